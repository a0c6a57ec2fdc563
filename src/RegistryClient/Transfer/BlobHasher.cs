using System.Buffers;
using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// Grows one blob's whole-blob SHA-256 (owned by its <see cref="PartialBlob"/>) in order as chunks become usable, so the
/// blob is verified the moment its last byte lands. Bytes come from the receive buffers they arrived in where they
/// are still held, else from the file.
/// </summary>
/// <remarks>
/// With chunk digests, a chunk's written bytes are hashed before its own digest is known, the whole-blob hash saved at
/// the chunk's start: the chunk's digest decides later. If its bytes are thrown away meanwhile (a new attempt), the hash
/// goes back to that state; the hash is complete only once every chunk matched. A chunk taken from the journal without
/// a check in this run is checked against its digest in the same read; on a mismatch the hash goes back and the chunk
/// is fetched again. One hasher per blob, on one task.
/// </remarks>
internal sealed class BlobHasher
{
    private readonly PartialBlob _partial;
    private readonly Chunk[] _chunks;
    private readonly Digest[]? _chunkDigests;
    private readonly ChunkLedger _ledger;
    private readonly HeldBytes _held;
    private readonly HashWindow _window;
    private readonly WakeSignal _signal;
    private byte[]? _readBuffer; // rented at the first read back from the file: held bytes need none

    public BlobHasher(PartialBlob partial, Chunk[] chunks, Digest[]? chunkDigests, ChunkLedger ledger, HeldBytes held, HashWindow window, WakeSignal signal)
    {
        _partial = partial;
        _chunks = chunks;
        _chunkDigests = chunkDigests;
        _ledger = ledger;
        _held = held;
        _window = window;
        _signal = signal;
    }

    /// <summary>
    /// Hashes until every byte of the blob is hashed and, with chunk digests, every chunk matched.
    /// </summary>
    /// <param name="refetch">Fetches a chunk again (one taken from the journal turned out damaged); completes once it is usable.</param>
    /// <param name="streamNow">True when the blob's remaining chunks are to come as one stream now (the source ignores Range and no range is in flight).</param>
    /// <param name="stream">Fetches every chunk from the given one on as one stream; completes once all are usable.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public async Task RunAsync(
        Func<int, CancellationToken, Task> refetch, Func<bool> streamNow, Func<int, CancellationToken, Task> stream, CancellationToken cancellationToken)
    {
        var ahead = new List<HashedAhead>(); // chunks hashed before their digest matched, in order
        try
        {
            int k = 0;
            while (true)
            {
                _signal.Reset();
                if (ahead.FindIndex(a => _ledger.Attempt(a.Index) != a.Attempt) is int stale and >= 0)
                {
                    // The bytes of a chunk hashed ahead were thrown away: hash again from its start.
                    _partial.RestoreHash(ahead[stale].Start);
                    k = ahead[stale].Index;
                    ahead[stale..].ForEach(a => a.Start.Dispose());
                    ahead.RemoveRange(stale, ahead.Count - stale);
                    _window.Advance(_partial.HashedLength);
                    continue;
                }

                while (ahead.Count > 0 && _ledger.Usable(ahead[0].Index) == _chunks[ahead[0].Index].Length
                    && _ledger.Attempt(ahead[0].Index) == ahead[0].Attempt)
                {
                    ahead[0].Start.Dispose(); // its digest matched the bytes hashed
                    ahead.RemoveAt(0);
                }

                if (k == _chunks.Length)
                {
                    if (ahead.Count == 0)
                    {
                        return;
                    }

                    await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                Chunk chunk = _chunks[k];
                long hashed = _partial.HashedLength;
                if (hashed == chunk.End + 1)
                {
                    k++;
                    continue;
                }

                long usableEnd = chunk.Start + _ledger.Usable(k);
                if (usableEnd <= hashed)
                {
                    if (_chunkDigests is not null)
                    {
                        // Not verified yet: hash what is written of it, keeping the state at its start to go back to.
                        int attempt = _ledger.Attempt(k);
                        long writtenEnd = chunk.Start + _ledger.Written(k);
                        if (writtenEnd > hashed)
                        {
                            if (hashed == chunk.Start)
                            {
                                ahead.Add(new HashedAhead(k, _partial.SaveHash(), attempt));
                            }

                            await HashToAsync(k, writtenEnd, null, cancellationToken).ConfigureAwait(false);
                            _window.Advance(writtenEnd);
                            continue;
                        }
                    }

                    if (streamNow())
                    {
                        await stream(k, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (_ledger.Trusted(k))
                {
                    // Taken from the journal: check the chunk's digest in this same read; on a mismatch, take the
                    // whole-blob hash back to the chunk's start and fetch the chunk again.
                    using PrefixHash.Saved before = _partial.SaveHash();
                    using var chunkHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    await HashToAsync(k, chunk.End + 1, chunkHash, cancellationToken).ConfigureAwait(false);
                    if (_chunkDigests![k].Matches(chunkHash.GetHashAndReset()))
                    {
                        _ledger.Confirm(k);
                        _window.Advance(chunk.End + 1);
                        continue;
                    }

                    _partial.RestoreHash(before);
                    _ledger.Untrust(k);
                    _partial.Unrecord(k);
                    await refetch(k, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                await HashToAsync(k, usableEnd, null, cancellationToken).ConfigureAwait(false);
                _window.Advance(usableEnd);
            }
        }
        finally
        {
            ahead.ForEach(a => a.Start.Dispose());
            if (_readBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_readBuffer);
                _readBuffer = null;
            }
        }
    }

    /// <summary>
    /// Hashes chunk <paramref name="index"/>'s bytes from the hashed prefix up to <paramref name="to"/>: from memory where
    /// they are held in receive buffers (which go back to their pool), else from the partial file.
    /// </summary>
    private async Task HashToAsync(int index, long to, IncrementalHash? chunkHash, CancellationToken cancellationToken)
    {
        while (_partial.HashedLength < to)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long position = _partial.HashedLength;
            if (_held.TryTake(position, out HeldBytes.Piece piece, out long next))
            {
                int take = (int)Math.Min(piece.Lease.Length, to - position);
                _partial.HashHeld(piece.Lease.Memory.Span[..take], chunkHash);
                if (take < piece.Lease.Length)
                {
                    _held.PutBack(position + take, piece with { Lease = piece.Lease.Slice(take, piece.Lease.Length - take) });
                }
                else
                {
                    piece.Lease.Return();
                }

                continue;
            }

            byte[] buffer = _readBuffer ??= ArrayPool<byte>.Shared.Rent((int)Math.Min(PullOptions.HashReadBufferSize, Math.Max(_partial.Descriptor.Size, 1)));
            long want = Math.Min(Math.Min(buffer.Length, to - position), next - position);
            await _partial.HashFromFileAsync(want, buffer, mayMap: !_ledger.FromEarlierPull(index), chunkHash, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A chunk hashed before its digest matched: the whole-blob hash at its start, and which attempt's bytes were read.</summary>
    private sealed record HashedAhead(int Index, PrefixHash.Saved Start, int Attempt);
}
