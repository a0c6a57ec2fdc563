using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Transfer;

/// <summary>What a pull did.</summary>
/// <param name="Models">Each model pulled, with its manifest digest and size.</param>
/// <param name="BlobsFetched">Blobs downloaded now.</param>
/// <param name="BlobsCached">Blobs that were already complete in the store.</param>
/// <param name="BytesFetched">Bytes downloaded now (not counting bytes reused from an earlier pull's partial files).</param>
/// <param name="BytesCached">Bytes already in the store.</param>
/// <param name="Elapsed">Wall time of the whole pull.</param>
public sealed record PullResult(
    IReadOnlyList<PulledModel> Models, int BlobsFetched, int BlobsCached, long BytesFetched, long BytesCached, TimeSpan Elapsed)
{
    /// <summary>Bytes of the fetched blobs taken from an earlier, interrupted pull's partial files instead of downloaded.</summary>
    public long BytesResumed { get; init; }

    /// <summary>What went wrong without failing the pull: peers dropped for serving wrong chunks or failing, each in one line.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Bytes of verified chunks each peer delivered (by address), and the origin's under "origin"; empty without peers.</summary>
    public IReadOnlyDictionary<string, long> BytesBySource { get; init; } = new Dictionary<string, long>();
}

/// <summary>One model of a pull.</summary>
/// <param name="Name">The name as resolved.</param>
/// <param name="ManifestDigest">The digest of the stored manifest bytes.</param>
/// <param name="Manifest">The manifest.</param>
public sealed record PulledModel(ModelName Name, Digest ManifestDigest, Manifest Manifest)
{
    /// <summary>The manifest bytes exactly as served (what the store keeps).</summary>
    public ReadOnlyMemory<byte> Bytes { get; init; }

    /// <summary>Of an index kept whole: each child manifest's bytes as served, by digest (stored as blobs).</summary>
    public IReadOnlyDictionary<Digest, ReadOnlyMemory<byte>> ChildBytes { get; init; } = new Dictionary<Digest, ReadOnlyMemory<byte>>();
}
