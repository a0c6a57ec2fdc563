using System.Buffers;
using System.Runtime.InteropServices;

namespace RegistryClient.Store;

/// <summary>
/// Memory for one read from the registry that stays where it is until the blob's hash has read it: a pinned array
/// (it never moves) whose usable part starts on a <see cref="DirectIo.Alignment"/> boundary, so whole blocks of it
/// can be written past the page cache. Rented from a <see cref="ReceiveBufferPool"/> and given back to it.
/// </summary>
internal sealed unsafe class ReceiveBuffer : MemoryManager<byte>
{
    private readonly byte[] _array;
    private readonly int _start;
    private readonly nint _address;

    internal ReceiveBuffer(ReceiveBufferPool pool, int length)
    {
        Pool = pool;
        _array = GC.AllocateUninitializedArray<byte>(length + DirectIo.Alignment, pinned: true);
        nint address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
        _start = (int)((DirectIo.Alignment - (address & (DirectIo.Alignment - 1))) & (DirectIo.Alignment - 1));
        _address = address + _start;
        Length = length;
    }

    /// <summary>The pool this buffer goes back to.</summary>
    public ReceiveBufferPool Pool { get; }

    /// <summary>Usable bytes (a read of up to a pool's buffer size, placed to agree with its file offset modulo the alignment).</summary>
    public int Length { get; }

    /// <summary>The address of byte <paramref name="index"/> of <see cref="MemoryManager{T}.Memory"/>; stable for the buffer's life.</summary>
    public nint AddressOf(int index) => _address + index;

    /// <summary>A lease on this buffer's bytes that start at the same offset within an alignment block as file offset <paramref name="position"/>, <paramref name="length"/> bytes long.</summary>
    public ReceiveLease For(long position, int length) => new(this, (int)(position & (DirectIo.Alignment - 1)), length);

    /// <inheritdoc/>
    public override Span<byte> GetSpan() => _array.AsSpan(_start, Length);

    /// <inheritdoc/>
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)elementIndex, (uint)Length, nameof(elementIndex));
        return new MemoryHandle((byte*)_address + elementIndex); // on the pinned heap: it never moves
    }

    /// <inheritdoc/>
    public override void Unpin()
    {
        // Nothing to undo: the array is pinned for its life.
    }

    /// <inheritdoc/>
    protected override bool TryGetArray(out ArraySegment<byte> segment)
    {
        segment = new ArraySegment<byte>(_array, _start, Length);
        return true;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        // The array is the GC's; the pool decides about reuse.
    }
}
