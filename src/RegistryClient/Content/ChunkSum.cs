namespace RegistryClient.Content;

/// <summary>One chunk of a blob and the SHA-256 of its bytes, as a chunk list gives it.</summary>
/// <param name="Digest">The digest of the chunk's bytes.</param>
/// <param name="Range">The chunk's bytes in the blob (inclusive ends).</param>
public readonly record struct ChunkSum(Digest Digest, Chunk Range);
