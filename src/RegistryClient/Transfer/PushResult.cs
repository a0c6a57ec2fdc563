using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Transfer;

/// <summary>What a push did.</summary>
/// <param name="Target">Where the model went.</param>
/// <param name="ManifestDigest">The digest of the manifest bytes put there.</param>
/// <param name="BlobsUploaded">Blobs uploaded now (all or part of them).</param>
/// <param name="BytesUploaded">Bytes the registry acknowledged during this push.</param>
/// <param name="BlobsPresent">Blobs the registry had already.</param>
/// <param name="BlobsMounted">Blobs mounted from the source's repository on the same registry instead of uploaded.</param>
/// <param name="BlobsResumed">Uploads that continued a session of an earlier, interrupted push.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record PushResult(
    ModelName Target, Digest ManifestDigest, int BlobsUploaded, long BytesUploaded, int BlobsPresent, int BlobsMounted, int BlobsResumed, TimeSpan Elapsed)
{
    /// <summary>Chunk lists sent beside the model (its chunk index); 0 when it has no large blob or the index is off.</summary>
    public int ChunkLists { get; init; }

    /// <summary>What went wrong beside the push (the chunk index could not be sent), for the user to hear; null when nothing did.</summary>
    public string? Warning { get; init; }
}
