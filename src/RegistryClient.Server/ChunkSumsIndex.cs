using System.Collections.Concurrent;
using RegistryClient.Content;
using RegistryClient.Store;

namespace RegistryClient.Server;

/// <summary>
/// The chunksums of the store's blobs: computed once per blob on the thread pool (concurrent first requests share
/// one computation), then kept as a sidecar in <c>.regc/chunksums/</c> and reused. A sidecar is checked against
/// the blob's size before use and recomputed if it does not fit.
/// </summary>
internal sealed class ChunkSumsIndex
{
    private const int ReadBufferSize = 1 << 20;

    private readonly ModelStore _store;
    private readonly long _chunkSize;
    private readonly ConcurrentDictionary<Digest, Lazy<Task<byte[]>>> _computing = new();
    private int _computed;

    public ChunkSumsIndex(ModelStore store, long chunkSize)
    {
        _store = store;
        _chunkSize = chunkSize;
    }

    /// <summary>How many lists were computed from blob bytes (rather than read from a sidecar).</summary>
    public int Computed => Volatile.Read(ref _computed);

    /// <summary>The list's body for the stored blob <paramref name="digest"/> of <paramref name="size"/> bytes.</summary>
    public async Task<byte[]> GetAsync(Digest digest, long size, CancellationToken cancellationToken)
    {
        if (_store.TryReadChunkList(digest, size, _chunkSize) is { } stored)
        {
            return stored.ToBytes();
        }

        Lazy<Task<byte[]>> computation = _computing.GetOrAdd(digest, d => new Lazy<Task<byte[]>>(() => Task.Run(() => ComputeAndStoreAsync(d, size))));
        try
        {
            return await computation.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (computation.Value.IsCompleted)
            {
                _computing.TryRemove(new KeyValuePair<Digest, Lazy<Task<byte[]>>>(digest, computation));
            }
        }
    }

    private async Task<byte[]> ComputeAndStoreAsync(Digest digest, long size)
    {
        Interlocked.Increment(ref _computed);
        ChunkList list = _store.ComputeChunkList(digest, size, _chunkSize);
        await _store.TryKeepChunkListAsync(digest, list).ConfigureAwait(false); // else computed again after a restart
        return list.ToBytes();
    }
}
