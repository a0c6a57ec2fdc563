using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Hashing;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// One attempt at one chunk of a blob, handed out by <see cref="BlobAssembly.BeginAttempt"/>: its bytes are written at
/// their offsets through <see cref="WriteAsync(ReceiveLease, long, CancellationToken)"/> (and with chunk digests hashed
/// as they pass), then the attempt is completed (<see cref="TryComplete"/>: the digest decides) or abandoned
/// (<see cref="Abandon"/>: its bytes are void). Without chunk digests, bytes are usable as they are written and there
/// is nothing to complete.
/// </summary>
/// <remarks>Used by one worker at a time; disposing it releases its hash.</remarks>
internal sealed class ChunkAttempt : IDisposable
{
    private readonly BlobAssembly _blob;
    private readonly ChunkHasher? _hash;
    private readonly int _attempt;
    private long _received;

    internal ChunkAttempt(BlobAssembly blob, int index, ChunkHasher? hash, int attempt)
    {
        _blob = blob;
        Index = index;
        Chunk = blob.Chunks[index];
        _hash = hash;
        _attempt = attempt;
    }

    /// <summary>The chunk's index in its blob.</summary>
    public int Index { get; }

    /// <summary>The chunk's bytes in the blob.</summary>
    public Chunk Chunk { get; }

    /// <summary>True when the chunk has a digest that decides this attempt.</summary>
    public bool Verifies => _hash is not null;

    /// <summary>
    /// Writes bytes at <paramref name="position"/> in the blob, which must continue this attempt's bytes (from the
    /// chunk's start, or with chunk digests from where an earlier connection of this attempt stopped). The lease's buffer
    /// is handed on: held for the whole-blob hash, or given back to its pool (also when the write fails).
    /// </summary>
    /// <exception cref="StoreException">The write failed.</exception>
    public async ValueTask WriteAsync(ReceiveLease lease, long position, CancellationToken cancellationToken)
    {
        try
        {
            await _blob.Partial.WriteAsync(lease, position, cancellationToken).ConfigureAwait(false);
            if (_hash is not null)
            {
                await _hash.AppendAsync(lease.Memory).ConfigureAwait(false);
            }
        }
        catch
        {
            lease.Return();
            throw;
        }

        _blob.Held.Hold(position, lease, Index, _attempt);
        Placed(position, lease.Length);
    }

    /// <summary>Writes bytes (in the worker's own buffer, not held) at <paramref name="position"/>, as the other overload.</summary>
    /// <exception cref="StoreException">The write failed.</exception>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, long position, CancellationToken cancellationToken)
    {
        await _blob.Partial.WriteAsync(data, position, cancellationToken).ConfigureAwait(false);
        if (_hash is not null)
        {
            await _hash.AppendAsync(data).ConfigureAwait(false);
        }

        Placed(position, data.Length);
    }

    private void Placed(long position, int length)
    {
        _received += length;
        long fromStart = position + length - Chunk.Start;
        if (_hash is null)
        {
            _blob.Ledger.AddUsable(Index, fromStart, length);
        }
        else
        {
            _blob.Ledger.AddWritten(Index, fromStart, length);
        }
    }

    /// <summary>
    /// Chunk digests: true when the bytes written match the chunk's digest (the chunk is usable and will be recorded);
    /// false when they do not (they are void, and the chunk is to be fetched again), with the digest found in
    /// <paramref name="actual"/>. Without digests, always true.
    /// </summary>
    public bool TryComplete(out Digest actual)
    {
        actual = default;
        if (_hash is null)
        {
            return true;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        _hash.GetHashAndReset(hash);
        actual = Digest.FromHash(hash);
        if (_blob.ChunkDigests![Index].Matches(hash))
        {
            _blob.Ledger.Verified(Index);
            _blob.ChunkVerified?.Invoke(new VerifiedChunk(_blob.Descriptor.Digest, Chunk.Start, Chunk.Length, _blob.Partial.ReadAsync));
            return true;
        }

        _blob.Void(Index, Chunk.Length);
        return false;
    }

    /// <summary>Chunk digests: the attempt broke off; its bytes are void and the next attempt writes the chunk from its start.</summary>
    public void Abandon()
    {
        if (_hash is not null)
        {
            _blob.Void(Index, _received);
        }
    }

    public void Dispose() => _hash?.Dispose();
}
