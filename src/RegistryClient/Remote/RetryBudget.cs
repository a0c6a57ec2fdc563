namespace RegistryClient.Remote;

/// <summary>
/// The retry allowance of one request or one range transfer. A transient failure is tried again until
/// <see cref="RegistryOptions.MaxRetries"/> attempts in a row failed without progress, or (with a stall limit) that
/// many attempts stalled without progress. An attempt that itself kept at least <see cref="ProgressFloor"/> new bytes
/// (read through the meter) does not count: the count starts again, and the next attempt starts at once. So a link
/// that drops every connection after a few MiB still finishes, while one that delivers nothing ends within the same
/// bounds as before. Failures without progress wait longer each time.
/// </summary>
/// <remarks>Used by one execution at a time (the attempts of one request run one after another).</remarks>
internal sealed class RetryBudget
{
    /// <summary>New bytes an attempt must keep to count as progress (a few socket receives, well above a trickle).</summary>
    public const long ProgressFloor = 64 << 10;

    private readonly RegistryOptions _options;
    private readonly Func<long>? _meter;
    private readonly int _maxStalls;
    private long _lastSeen;

    /// <summary>Creates a budget.</summary>
    /// <param name="subject">What is being fetched, for the message when the budget ends ("GET http://host/v2/.../blobs/sha256:… bytes 0-99").</param>
    /// <param name="options">The retry settings (<see cref="RegistryOptions.MaxRetries"/>, delays).</param>
    /// <param name="meter">The bytes kept so far by the transfer (grows as it progresses); null for a request that either succeeds or not.</param>
    /// <param name="maxStalls">Stalls (<see cref="StallTimeoutException"/>) without progress after which the budget ends, whatever the other failures; 0 means no such limit.</param>
    /// <param name="onRetry">Told of each attempt that will be tried again, before the wait.</param>
    public RetryBudget(string subject, RegistryOptions options, Func<long>? meter = null, int maxStalls = 0, Action<RetryNotice>? onRetry = null)
    {
        Subject = subject;
        _options = options;
        _meter = meter;
        _maxStalls = maxStalls;
        OnRetry = onRetry;
        _lastSeen = meter?.Invoke() ?? 0;
    }

    /// <summary>What is being fetched, for messages.</summary>
    public string Subject { get; }

    /// <summary>Told of each attempt that will be tried again.</summary>
    public Action<RetryNotice>? OnRetry { get; }

    /// <summary>Failed attempts since the last one that made progress.</summary>
    public int FailuresInARow { get; private set; }

    /// <summary>Stalled attempts since the last one that made progress.</summary>
    public int StallsInARow { get; private set; }

    /// <summary>Failed attempts in all.</summary>
    public int Failures { get; private set; }

    /// <summary>Why the last failure was not tried again (beyond its own message), or null.</summary>
    public string? GaveUpBecause { get; private set; }

    /// <summary>
    /// Decides after an attempt failed with <paramref name="exception"/>: true to try again (after <see cref="NextDelay"/>).
    /// Failures that are not transient are never tried again.
    /// </summary>
    public bool ShouldRetry(Exception? exception)
    {
        if (!TransientFaults.IsTransient(exception))
        {
            return false;
        }

        Failures++;
        if (_meter is not null)
        {
            long kept = _meter();
            long gained = kept - _lastSeen; // this attempt's own gain, not an accumulation of trickles
            _lastSeen = kept;
            if (gained >= ProgressFloor)
            {
                FailuresInARow = 0; // this attempt moved forward: it does not count
                StallsInARow = 0;
                return true;
            }
        }

        FailuresInARow++;
        if (exception is StallTimeoutException)
        {
            StallsInARow++;
        }

        if (FailuresInARow > _options.MaxRetries)
        {
            GaveUpBecause = $"{FailuresInARow} attempts in a row without progress";
            return false;
        }

        if (_maxStalls > 0 && StallsInARow >= _maxStalls)
        {
            GaveUpBecause = $"{StallsInARow} stalls without progress";
            return false;
        }

        return true;
    }

    /// <summary>
    /// The wait before the next attempt: none after an attempt that made progress (the link was delivering: reconnect
    /// at once); <see cref="RegistryOptions.RetryDelay"/> after the first failure without progress, doubling with each
    /// further one, with ±20% jitter, at most <see cref="RegistryOptions.MaxRetryDelay"/>. A <c>Retry-After</c> from the
    /// registry wins (capped the same way).
    /// </summary>
    public TimeSpan NextDelay(Exception? exception)
    {
        if (exception is RegistryResponseException { RetryAfter: { } asked })
        {
            return asked;
        }

        if (FailuresInARow == 0)
        {
            return TimeSpan.Zero;
        }

        double step = Math.Pow(2, Math.Max(0, FailuresInARow - 1));
        double jitter = 0.8 + (0.4 * Random.Shared.NextDouble());
        double delay = Math.Min(_options.RetryDelay.TotalMilliseconds * step * jitter, _options.MaxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(delay);
    }
}
