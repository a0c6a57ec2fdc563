using RegistryClient.Content;

namespace RegistryClient.Transfer;

/// <summary>
/// Paces one blob's ranges to its whole-blob hash: a chunk may start only within <see cref="Size"/> bytes of the
/// hashed prefix. A chunk further on is kept aside, and handed back to the worker pool once the hash gets near it;
/// the worker takes other work meanwhile. Without it the download runs ahead, takes most of the cores first and
/// leaves the hash alone at the end; paced, the two share the cores, and at most about this much unhashed data waits.
/// </summary>
/// <remarks>Thread-safe. The chunk the hash waits for is always within the window.</remarks>
internal sealed class HashWindow
{
    private readonly Chunk[] _chunks;
    private readonly Action<int> _requeue;
    private readonly PriorityQueue<int, long> _deferred = new(); // chunks beyond the window, by offset
    private long _hashed;

    /// <param name="chunks">The blob's chunks.</param>
    /// <param name="size">How far beyond the hashed prefix a chunk may start.</param>
    /// <param name="requeue">Hands a chunk that the window reached back to the worker pool.</param>
    public HashWindow(Chunk[] chunks, long size, Action<int> requeue)
    {
        _chunks = chunks;
        Size = size;
        _requeue = requeue;
    }

    /// <summary>How far beyond the hashed prefix a chunk may start (<see cref="PullOptions.HashWindow"/>).</summary>
    public long Size { get; }

    /// <summary>How far the whole-blob hash has read.</summary>
    public long Hashed => Volatile.Read(ref _hashed);

    /// <summary>True when chunk <paramref name="index"/> may be fetched now; otherwise it is kept aside until the hash gets near it.</summary>
    public bool TryStart(int index)
    {
        lock (_deferred)
        {
            if (InWindow(index))
            {
                return true;
            }

            _deferred.Enqueue(index, _chunks[index].Start);
            return false;
        }
    }

    /// <summary>The hash reached <paramref name="hashed"/>: chunks kept aside that are now within the window go back to the pool.</summary>
    public void Advance(long hashed)
    {
        Volatile.Write(ref _hashed, hashed);
        lock (_deferred)
        {
            while (_deferred.TryPeek(out int index, out _) && InWindow(index))
            {
                _requeue(_deferred.Dequeue());
            }
        }
    }

    private bool InWindow(int index) => _chunks[index].Start - Volatile.Read(ref _hashed) < Size;
}
