using System.Collections.Concurrent;
using RegistryClient.Content;
using RegistryClient.Remote;
using RegistryClient.Transfer;

namespace RegistryClient.Cli.Output;

/// <summary>
/// Adds up progress reports from the pull's worker threads. Cheap and lock-free on the reporting side (but for the
/// rare retry notices); a blob's completed count only ever grows, so bars never go backwards.
/// </summary>
internal sealed class ProgressTracker(IProgress<string> status) : IProgress<PullProgress>
{
    private readonly ConcurrentDictionary<Digest, BlobProgress> _blobs = new();
    private int _order;

    public void Report(PullProgress value)
    {
        if (value.IsStatus)
        {
            // A phase, shown as a line of its own: "<model>: pulling manifest", "<blob>: another process is downloading ...".
            status.Report(value.Digest == default ? $"{value.Model}: {value.Status}" : $"{value.Digest.Short}: {value.Status}");
            return;
        }

        BlobProgress blob = _blobs.GetOrAdd(value.Digest, d => new BlobProgress(d, value.Total, Interlocked.Increment(ref _order)));
        blob.Update(value);
    }

    /// <summary>The blobs seen so far, in the order they were first reported.</summary>
    public IReadOnlyList<BlobProgress> Snapshot() => _blobs.Values.OrderBy(b => b.Order).ToList();

    internal sealed class BlobProgress(Digest digest, long total, int order)
    {
        /// <summary>Retries of a blob less than this far apart belong to one episode (one plain line).</summary>
        public static readonly TimeSpan EpisodeGap = TimeSpan.FromSeconds(10);

        private readonly Lock _retryLock = new();
        private long _completed;
        private long _reused;
        private int _state;
        private Retrying? _retry;

        public Digest Digest { get; } = digest;

        public long Total { get; } = total;

        public int Order { get; } = order;

        public long Completed => Interlocked.Read(ref _completed);

        public long Reused => Interlocked.Read(ref _reused);

        public TransferState State => (TransferState)Volatile.Read(ref _state);

        /// <summary>The latest retry of this blob, or null when none happened.</summary>
        public Retrying? Retry
        {
            get
            {
                lock (_retryLock)
                {
                    return _retry;
                }
            }
        }

        public void Update(PullProgress value)
        {
            if (value.Retry is { } notice)
            {
                long now = Environment.TickCount64;
                lock (_retryLock)
                {
                    // An episode lasts while each retry comes within the gap after the previous one's wait ended.
                    bool sameEpisode = _retry is { } last && now - (last.Ticks + (long)last.Notice.Delay.TotalMilliseconds) < EpisodeGap.TotalMilliseconds;
                    _retry = new Retrying(notice, now, value.Completed, (_retry?.Count ?? 0) + 1, (_retry?.Episode ?? 0) + (sameEpisode ? 0 : 1));
                }
            }

            long seen;
            while ((seen = Interlocked.Read(ref _completed)) < value.Completed
                && Interlocked.CompareExchange(ref _completed, value.Completed, seen) != seen)
            {
            }

            if (value.Reused > Interlocked.Read(ref _reused))
            {
                Interlocked.Exchange(ref _reused, value.Reused);
            }

            // States only move forward (Started, Cached, Running, Completed, Failed), so a late Running report
            // from another thread never undoes Completed.
            int current;
            while ((current = Volatile.Read(ref _state)) < (int)value.State
                && Interlocked.CompareExchange(ref _state, (int)value.State, current) != current)
            {
            }
        }
    }

    /// <summary>The latest retry of a blob: the notice, when it came (<see cref="Environment.TickCount64"/>), the blob's bytes then, how many retries so far, and which episode.</summary>
    internal sealed record Retrying(RetryNotice Notice, long Ticks, long CompletedThen, int Count, int Episode)
    {
        /// <summary>"connection reset, retrying in 2 s (3rd try, 41% kept)"; after an attempt that brought bytes, "connection reset, reconnecting (41% kept)".</summary>
        public string Describe(long total, long now)
        {
            double left = Notice.Delay.TotalSeconds - ((now - Ticks) / 1000.0);
            string when = left >= 0.5 ? $" in {Math.Ceiling(left):0} s" : string.Empty;
            double kept = total == 0 ? 100 : CompletedThen * 100.0 / total;
            return Notice.Attempt <= 1
                ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Notice.Reason}, reconnecting{when} ({kept:0}% kept)")
                : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Notice.Reason}, retrying{when} ({Units.Ordinal(Notice.Attempt)} try, {kept:0}% kept)");
        }

        /// <summary>True while the notice is news: its wait is not over by more than two seconds.</summary>
        public bool IsCurrent(long now) => now - Ticks < Notice.Delay.TotalMilliseconds + 2000;
    }
}
