using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient;

/// <summary>A model in the store.</summary>
/// <param name="Name">Its name.</param>
/// <param name="ManifestDigest">The digest of its manifest bytes (its id).</param>
/// <param name="Size">The total size of its blobs.</param>
/// <param name="Modified">When its manifest was written (UTC).</param>
public sealed record StoredModel(ModelName Name, Digest ManifestDigest, long Size, DateTime Modified);
