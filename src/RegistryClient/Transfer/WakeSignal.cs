namespace RegistryClient.Transfer;

/// <summary>
/// Wakes one waiter (a blob's hasher) when anything it watches changed. Many wake-ups between two waits count as one;
/// a spare wake-up costs the waiter one empty look.
/// </summary>
internal sealed class WakeSignal : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0);
    private int _pending;

    /// <summary>Something changed.</summary>
    public void Wake()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0)
        {
            _signal.Release();
        }
    }

    /// <summary>Takes the pending wake-up, if any, before the waiter looks at the state (so a change during the look is not lost).</summary>
    public void Reset() => Interlocked.Exchange(ref _pending, 0);

    /// <summary>Waits for the next wake-up.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _signal.WaitAsync(cancellationToken);

    public void Dispose() => _signal.Dispose();
}
