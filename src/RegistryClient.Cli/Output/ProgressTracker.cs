using System.Collections.Concurrent;
using RegistryClient.Content;
using RegistryClient.Transfer;

namespace RegistryClient.Cli.Output;

/// <summary>
/// Adds up progress reports from the pull's worker threads. Cheap and lock-free on the reporting side; a
/// blob's completed count only ever grows, so bars never go backwards.
/// </summary>
internal sealed class ProgressTracker : IProgress<TransferProgress>
{
    private readonly ConcurrentDictionary<Digest, BlobProgress> _blobs = new();
    private int _order;

    public void Report(TransferProgress value)
    {
        BlobProgress blob = _blobs.GetOrAdd(value.Digest, d => new BlobProgress(d, value.Total, Interlocked.Increment(ref _order)));
        blob.Update(value);
    }

    /// <summary>The blobs seen so far, in the order they were first reported.</summary>
    public IReadOnlyList<BlobProgress> Snapshot() => _blobs.Values.OrderBy(b => b.Order).ToList();

    internal sealed class BlobProgress(Digest digest, long total, int order)
    {
        private long _completed;
        private long _reused;
        private int _state;

        public Digest Digest { get; } = digest;

        public long Total { get; } = total;

        public int Order { get; } = order;

        public long Completed => Interlocked.Read(ref _completed);

        public long Reused => Interlocked.Read(ref _reused);

        public TransferState State => (TransferState)Volatile.Read(ref _state);

        public void Update(TransferProgress value)
        {
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
}
