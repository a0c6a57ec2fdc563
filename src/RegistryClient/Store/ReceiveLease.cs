namespace RegistryClient.Store;

/// <summary>
/// Bytes in a <see cref="ReceiveBuffer"/>: the buffer, where they start in it, and how many. Whoever holds a lease
/// owns the buffer until it hands the lease on (with the bytes, to be held for the blob's hash) or gives the buffer
/// back to its pool; the bytes may then be overwritten at once.
/// </summary>
internal readonly record struct ReceiveLease(ReceiveBuffer Buffer, int Start, int Length)
{
    /// <summary>The leased bytes.</summary>
    public Memory<byte> Memory => Buffer.Memory.Slice(Start, Length);

    /// <summary>The same buffer's bytes [<paramref name="skip"/>, +<paramref name="length"/>) of this lease.</summary>
    public ReceiveLease Slice(int skip, int length) => new(Buffer, Start + skip, length);

    /// <summary>Gives the buffer back to its pool.</summary>
    public void Return() => Buffer.Pool.Return(Buffer);
}
