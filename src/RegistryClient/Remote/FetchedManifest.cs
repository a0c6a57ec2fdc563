using RegistryClient.Content;

namespace RegistryClient.Remote;

/// <summary>A manifest as the registry served it: exact bytes, declared media type and the bytes' digest.</summary>
/// <param name="Bytes">The body, byte for byte.</param>
/// <param name="MediaType">The <c>Content-Type</c> media type, or null when none was sent.</param>
/// <param name="Digest">The SHA-256 of <paramref name="Bytes"/> (checked against <c>Docker-Content-Digest</c> when sent).</param>
public sealed record FetchedManifest(ReadOnlyMemory<byte> Bytes, string? MediaType, Digest Digest);
