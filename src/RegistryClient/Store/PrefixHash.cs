using System.Security.Cryptography;

namespace RegistryClient.Store;

/// <summary>
/// The SHA-256 of a blob's first <see cref="Length"/> bytes, grown in order. A state can be saved (at a chunk's start,
/// before its bytes are proven) and gone back to (when those bytes are thrown away). Owned by one
/// <see cref="PartialBlob"/>, whose commit is decided by it.
/// </summary>
/// <remarks>Not thread-safe: one hasher grows it.</remarks>
internal sealed class PrefixHash : IDisposable
{
    private IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>Bytes hashed so far, from the blob's first.</summary>
    public long Length { get; private set; }

    /// <summary>The running hash, for appending in place (<see cref="Advanced"/> must follow).</summary>
    internal IncrementalHash State => _hash;

    /// <summary>Appends the blob's next bytes.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        _hash.AppendData(bytes);
        Length += bytes.Length;
    }

    /// <summary>Counts <paramref name="count"/> bytes appended to <see cref="State"/> directly.</summary>
    internal void Advanced(int count) => Length += count;

    /// <summary>The state at this point, to go back to with <see cref="Restore"/>; the caller disposes it.</summary>
    public Saved Save() => new(_hash.Clone(), Length);

    /// <summary>Goes back to a saved state (the bytes hashed since then are void).</summary>
    public void Restore(Saved saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        _hash.Dispose();
        _hash = saved.State.Clone();
        Length = saved.Length;
    }

    /// <summary>The digest of the <see cref="Length"/> bytes hashed; the hash starts over.</summary>
    public byte[] Finish()
    {
        byte[] digest = _hash.GetHashAndReset();
        Length = 0;
        return digest;
    }

    public void Dispose() => _hash.Dispose();

    /// <summary>A saved state of a <see cref="PrefixHash"/>.</summary>
    internal sealed class Saved(IncrementalHash state, long length) : IDisposable
    {
        public IncrementalHash State { get; } = state;

        public long Length { get; } = length;

        public void Dispose() => State.Dispose();
    }
}
