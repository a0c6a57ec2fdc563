namespace RegistryClient.Transfer;

/// <summary>
/// A token bucket shared by every transfer of a pull (<c>--limit-rate</c>): readers take what they received and
/// wait while the bucket is in debt, so the sum of all streams stays near the rate. Thread-safe.
/// </summary>
internal sealed class RateLimiter
{
    /// <summary>The most a limited reader asks for at once, so one read cannot take seconds of budget.</summary>
    public const int MaxRead = 64 << 10;

    private readonly double _bytesPerSecond;
    private readonly double _burst;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private double _tokens;
    private long _stamp;

    public RateLimiter(long bytesPerSecond, TimeProvider time)
    {
        _bytesPerSecond = bytesPerSecond;
        _burst = Math.Min(bytesPerSecond, 256 << 10); // at most a quarter second's worth, capped at 256 KiB
        _time = time;
        _tokens = _burst;
        _stamp = time.GetTimestamp();
    }

    /// <summary>Takes <paramref name="bytes"/> just received; returns once the average rate allows more.</summary>
    public async ValueTask TakeAsync(int bytes, CancellationToken cancellationToken)
    {
        TimeSpan wait;
        lock (_gate)
        {
            long now = _time.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + (_time.GetElapsedTime(_stamp, now).TotalSeconds * _bytesPerSecond));
            _stamp = now;
            _tokens -= bytes;
            wait = _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _bytesPerSecond);
        }

        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }
}
