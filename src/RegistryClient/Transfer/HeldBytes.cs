using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// Received bytes of one blob kept in their receive buffers, by offset, until the blob's hash reads them (so it need
/// not read them back from the file). Each piece remembers the chunk attempt it belongs to: a piece of an attempt
/// since thrown away is given back to its pool, never hashed.
/// </summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class HeldBytes
{
    private readonly SortedList<long, Piece> _pieces = [];
    private readonly Func<int, int> _currentAttempt;

    /// <param name="currentAttempt">The current attempt of a chunk (a piece of any other is void).</param>
    public HeldBytes(Func<int, int> currentAttempt) => _currentAttempt = currentAttempt;

    /// <summary>Takes over <paramref name="lease"/>: the bytes at <paramref name="position"/> of chunk <paramref name="chunk"/>'s attempt <paramref name="attempt"/>.</summary>
    public void Hold(long position, ReceiveLease lease, int chunk, int attempt)
    {
        lock (_pieces)
        {
            if (_pieces.Remove(position, out Piece replaced))
            {
                replaced.Lease.Return();
            }

            _pieces.Add(position, new Piece(lease, chunk, attempt));
        }
    }

    /// <summary>Gives back the buffers of pieces that start in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public void Release(long from, long to)
    {
        lock (_pieces)
        {
            for (int i = _pieces.Count - 1; i >= 0; i--)
            {
                long position = _pieces.Keys[i];
                if (position >= from && position < to)
                {
                    _pieces.Values[i].Lease.Return();
                    _pieces.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>
    /// Takes the piece that starts at <paramref name="position"/>; else says where the next piece starts (or
    /// long.MaxValue). Pieces of an attempt since thrown away are given back on the way, never taken.
    /// </summary>
    public bool TryTake(long position, out Piece piece, out long next)
    {
        lock (_pieces)
        {
            next = long.MaxValue;
            for (int i = _pieces.IndexOfKey(position) is int at and >= 0 ? at : 0; i < _pieces.Count; i++)
            {
                long start = _pieces.Keys[i];
                if (start < position)
                {
                    continue;
                }

                Piece candidate = _pieces.Values[i];
                if (candidate.Attempt != _currentAttempt(candidate.Chunk))
                {
                    candidate.Lease.Return();
                    _pieces.RemoveAt(i--);
                    continue;
                }

                if (start == position)
                {
                    _pieces.RemoveAt(i);
                    piece = candidate;
                    return true;
                }

                next = start;
                break;
            }

            piece = default;
            return false;
        }
    }

    /// <summary>
    /// Puts back the rest of a piece taken with <see cref="TryTake"/> whose first bytes were hashed (still of the
    /// piece's attempt), unless newer bytes are held there already (then the rest is given back).
    /// </summary>
    public void PutBack(long position, Piece rest)
    {
        lock (_pieces)
        {
            if (!_pieces.TryAdd(position, rest))
            {
                rest.Lease.Return();
            }
        }
    }

    /// <summary>Held bytes: the lease, and the chunk attempt they belong to.</summary>
    public readonly record struct Piece(ReceiveLease Lease, int Chunk, int Attempt);
}
