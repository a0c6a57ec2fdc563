namespace RegistryClient.Store;

/// <summary>
/// A pull's receive buffers whose bytes stay in memory until the blob's whole-digest hash has read them, so the hash
/// needs no read back from the file and the file can be written past the page cache (<see cref="DirectIo"/>).
/// Bounded: when every buffer is out (the hash is far behind), a worker reads into its own buffer and those bytes go
/// through the page cache as before. Buffers are made on first need and reused most recently returned first, so a pull
/// touches only as much memory as its hash window really holds.
/// </summary>
/// <remarks>Thread-safe. Buffers are ordinary pinned arrays: one still out when the pull ends is simply collected.</remarks>
internal sealed class ReceiveBufferPool
{
    private readonly Stack<ReceiveBuffer> _free = new();
    private readonly int _limit;
    private int _made;

    /// <param name="bufferSize">Bytes of one read (a pull's buffer size).</param>
    /// <param name="capacity">Bytes all buffers together may hold; at least one buffer.</param>
    public ReceiveBufferPool(int bufferSize, long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        BufferSize = bufferSize;
        _limit = (int)Math.Clamp(capacity / bufferSize, 1, int.MaxValue);
    }

    /// <summary>Bytes of one read; each buffer has room for that many at any offset within an alignment block.</summary>
    public int BufferSize { get; }

    /// <summary>Buffers made so far (the most out at once).</summary>
    public int Made => Volatile.Read(ref _made);

    /// <summary>A free buffer, or null when all are out.</summary>
    public ReceiveBuffer? TryRent()
    {
        lock (_free)
        {
            if (_free.TryPop(out ReceiveBuffer? buffer))
            {
                return buffer;
            }

            if (_made == _limit)
            {
                return null;
            }

            _made++;
        }

        return new ReceiveBuffer(this, BufferSize + DirectIo.Alignment);
    }

    /// <summary>Gives a buffer back; its bytes may be overwritten at once.</summary>
    public void Return(ReceiveBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.Pool != this)
        {
            throw new ArgumentException("the buffer belongs to another pool", nameof(buffer));
        }

        lock (_free)
        {
            _free.Push(buffer);
        }
    }
}
