using RegistryClient.Content;

namespace RegistryClient.Transfer;

/// <summary>A chunk of a blob checked against its digest and written to the blob's partial file (<see cref="PullOptions.ChunkVerified"/>).</summary>
/// <param name="Blob">The blob.</param>
/// <param name="Start">The chunk's first byte in the blob.</param>
/// <param name="Length">The chunk's length.</param>
/// <param name="Read">
/// Reads bytes of the blob at an offset from its partial file, through the download's own handle (the file is locked
/// against other openers); it throws <see cref="ObjectDisposedException"/> once the blob is committed or given up.
/// </param>
public sealed record VerifiedChunk(Digest Blob, long Start, long Length, Func<Memory<byte>, long, CancellationToken, ValueTask<int>> Read);
