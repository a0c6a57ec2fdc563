using System.Collections.Concurrent;
using RegistryClient.Content;

namespace RegistryClient.Transfer;

/// <summary>
/// Passes a pull's progress on to the caller's <see cref="IProgress{T}"/>: each blob's reports in order (one at a time
/// per blob), a blob's running counts at most every <see cref="Interval"/> (the workers report every receive buffer),
/// every change of state, retry and status at once, and a blob's completed count never going back.
/// </summary>
/// <remarks>Thread-safe. The caller's progress is called on the reporting thread: it must be cheap and must not block.</remarks>
internal sealed class ProgressCoalescer : IProgress<PullProgress>
{
    /// <summary>The least time between two running reports of one blob (ten a second).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly IProgress<PullProgress> _inner;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<Digest, BlobState> _blobs = new();
    private readonly Lock _statusGate = new();

    public ProgressCoalescer(IProgress<PullProgress> inner, TimeProvider time)
    {
        _inner = inner;
        _time = time;
    }

    /// <summary>Wraps <paramref name="progress"/>, or returns null when there is none.</summary>
    public static ProgressCoalescer? Wrap(IProgress<PullProgress>? progress, TimeProvider time) =>
        progress is null ? null : new ProgressCoalescer(progress, time);

    public void Report(PullProgress value)
    {
        if (value.IsStatus && value.Digest == default)
        {
            lock (_statusGate)
            {
                _inner.Report(value);
            }

            return;
        }

        BlobState blob = _blobs.GetOrAdd(value.Digest, _ => new BlobState());
        lock (blob)
        {
            long now = _time.GetTimestamp();
            if (blob.Reported && value.State < blob.State)
            {
                return; // a late report from another worker: a blob's state only moves forward
            }

            bool running = value.State == TransferState.Running && value.Retry is null && !value.IsStatus;
            if (running && blob.State == TransferState.Running && _time.GetElapsedTime(blob.Sent, now) < Interval)
            {
                return; // within the interval: the next report carries the newer counts
            }

            if (value.Completed < blob.Completed && !value.IsStatus)
            {
                value = value with { Completed = blob.Completed };
            }

            blob.Completed = value.Completed;
            blob.State = value.State;
            blob.Sent = now;
            blob.Reported = true;
            _inner.Report(value);
        }
    }

    private sealed class BlobState
    {
        public long Completed { get; set; }

        public TransferState State { get; set; } = TransferState.Started;

        public long Sent { get; set; }

        public bool Reported { get; set; }
    }
}
