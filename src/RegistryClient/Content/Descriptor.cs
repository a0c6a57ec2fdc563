namespace RegistryClient.Content;

/// <summary>A content descriptor from a manifest: what a blob is, its digest and its size.</summary>
/// <param name="MediaType">The media type as the manifest gave it (may be empty for old manifests).</param>
/// <param name="Digest">The blob's digest, already validated.</param>
/// <param name="Size">The blob's size in bytes, non-negative.</param>
public sealed record Descriptor(string MediaType, Digest Digest, long Size);
