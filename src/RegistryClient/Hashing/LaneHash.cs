using System.Buffers.Binary;

namespace RegistryClient.Hashing;

/// <summary>
/// One SHA-256 message whose whole blocks are hashed in a <see cref="LaneHashEngine"/> engine. Bytes that do not fill a
/// block wait in the message until the next append or the end; a few blocks are hashed on the caller's thread.
/// </summary>
/// <remarks>One append at a time: await each before the next, and before <see cref="GetHashAndReset"/>.</remarks>
internal sealed class LaneHash : IDisposable
{
    /// <summary>Fewer whole blocks than this (1 KiB) are not worth the engine's round trip.</summary>
    private const int EngineBlocks = 16;

    private readonly LaneHashEngine _engine;
    private readonly uint[] _state = new uint[Avx2Sha256Kernel.StateWords];
    private readonly byte[] _tail = new byte[2 * Avx2Sha256Kernel.BlockSize]; // room for the padding's two blocks
    private int _tailLength;
    private long _length;
    private int _busy;
    private bool _disposed;

    internal LaneHash(LaneHashEngine engine)
    {
        _engine = engine;
        Avx2Sha256Kernel.Initialize(_state);
    }

    /// <summary>Adds <paramref name="data"/> to the message; completes once it is absorbed and may be reused.</summary>
    /// <exception cref="InvalidOperationException">An earlier append has not completed.</exception>
    public async Task AppendAsync(ReadOnlyMemory<byte> data)
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException("a SHA-256 message takes one append at a time");
        }

        try
        {
            _length += data.Length;
            if (_tailLength > 0)
            {
                int take = Math.Min(Avx2Sha256Kernel.BlockSize - _tailLength, data.Length);
                data.Span[..take].CopyTo(_tail.AsSpan(_tailLength));
                _tailLength += take;
                data = data[take..];
                if (_tailLength < Avx2Sha256Kernel.BlockSize)
                {
                    return;
                }

                Avx2Sha256Kernel.CompressOne(_state, _tail.AsMemory(0, Avx2Sha256Kernel.BlockSize));
                _tailLength = 0;
            }

            int whole = data.Length - (data.Length % Avx2Sha256Kernel.BlockSize);
            data.Span[whole..].CopyTo(_tail);
            _tailLength = data.Length - whole;
            if (whole >= EngineBlocks * Avx2Sha256Kernel.BlockSize)
            {
                await _engine.SubmitAsync(this, data[..whole]).ConfigureAwait(false);
            }
            else if (whole > 0)
            {
                Avx2Sha256Kernel.CompressOne(_state, data[..whole]);
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Writes the digest of everything appended into <paramref name="destination"/> (32 bytes) and starts a new message.</summary>
    /// <exception cref="InvalidOperationException">An append has not completed.</exception>
    public void GetHashAndReset(Span<byte> destination)
    {
        if (Volatile.Read(ref _busy) != 0)
        {
            throw new InvalidOperationException("a SHA-256 message cannot end while an append is running");
        }

        // FIPS 180-4 §5.1.1: a 1 bit, zeros, and the length in bits as a 64-bit big-endian number, to a block boundary.
        int padded = _tailLength + 9 <= Avx2Sha256Kernel.BlockSize ? Avx2Sha256Kernel.BlockSize : 2 * Avx2Sha256Kernel.BlockSize;
        _tail.AsSpan(_tailLength, padded - _tailLength).Clear();
        _tail[_tailLength] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(_tail.AsSpan(padded - 8), (ulong)_length * 8);
        Avx2Sha256Kernel.CompressOne(_state, _tail.AsMemory(0, padded));
        Avx2Sha256Kernel.WriteDigest(_state, destination);
        Avx2Sha256Kernel.Initialize(_state);
        _tailLength = 0;
        _length = 0;
    }

    /// <summary>Tells the engine this message sends no more bytes.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _engine.Release();
        }
    }

    /// <summary>Engine thread: puts this message's state into lane <paramref name="lane"/> of the word-major states.</summary>
    internal void LoadInto(uint[] states, int lane)
    {
        for (int word = 0; word < Avx2Sha256Kernel.StateWords; word++)
        {
            states[(word * Avx2Sha256Kernel.Lanes) + lane] = _state[word];
        }
    }

    /// <summary>Engine thread: takes this message's state back from lane <paramref name="lane"/>.</summary>
    internal void StoreFrom(uint[] states, int lane)
    {
        for (int word = 0; word < Avx2Sha256Kernel.StateWords; word++)
        {
            _state[word] = states[(word * Avx2Sha256Kernel.Lanes) + lane];
        }
    }
}
