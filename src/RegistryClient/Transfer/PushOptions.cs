using RegistryClient.Content;

namespace RegistryClient.Transfer;

/// <summary>How <see cref="ModelPusher"/> uploads.</summary>
public sealed record PushOptions
{
    /// <summary>Blobs uploaded at once (the chunks of one blob always go in order, as the distribution spec requires).</summary>
    public int Concurrency { get; init; } = 3;

    /// <summary>
    /// Bytes per upload request (<c>PATCH</c>) to start with; a blob no larger goes in one request. After an
    /// interruption, at most the chunk in flight is sent again. The registry's <c>OCI-Chunk-Min-Length</c> raises it.
    /// Default 16 MiB.
    /// </summary>
    public long ChunkSize { get; init; } = 16 << 20;

    /// <summary>
    /// The size requests grow to while they are quick: a whole chunk acknowledged within half a second doubles the
    /// next ones, up to this (each request costs a registry a round trip and a little bookkeeping, so fewer go faster
    /// on a fast link, while a slow link keeps chunks that finish soon after a Ctrl-C). Equal to
    /// <see cref="ChunkSize"/>, the size is fixed; a size set for a host in <see cref="ChunkSizeByHost"/> is always fixed.
    /// Default 128 MiB.
    /// </summary>
    public long MaxChunkSize { get; init; } = 128L << 20;

    /// <summary>
    /// Request sizes for particular registries (by host, with its port), overriding <see cref="ChunkSize"/>; 0 sends each
    /// blob in one request (for registries that take no chunks). A registry found to refuse chunks during a push gets
    /// whole blobs for the rest of it anyway.
    /// </summary>
    public IReadOnlyDictionary<string, long> ChunkSizeByHost { get; init; } = new Dictionary<string, long>();

    /// <summary>The request size set for <paramref name="host"/> in <see cref="ChunkSizeByHost"/> (0: whole blobs); false when it has none.</summary>
    public bool TryGetHostChunkSize(string host, out long size) =>
        ChunkSizeByHost.TryGetValue(host, out size) || ChunkSizeByHost.TryGetValue(host.ToLowerInvariant(), out size);

    /// <summary>
    /// Sends each large blob's chunk list beside the model (an OCI 1.1 artifact whose subject is the manifest), so a
    /// pull from a registry without a chunksums endpoint still gets per-chunk verification and repair. Default on.
    /// </summary>
    public bool ChunkIndex { get; init; } = true;

    /// <summary>Blobs at least this large get a chunk list in the chunk index (as pulls ask for chunksums). Default 64 MiB.</summary>
    public long ChunkIndexThreshold { get; init; } = 64L << 20;

    /// <summary>The chunk size of a list computed for the chunk index (one the store keeps is sent as it is). Default 16 MiB.</summary>
    public long ChunkIndexChunkSize { get; init; } = 16L << 20;

    /// <summary>An upload session recorded longer ago than this is not asked about; the blob starts again.</summary>
    public TimeSpan MaxSessionAge { get; init; } = TimeSpan.FromDays(6);

    /// <summary>
    /// How long a chunk in flight may go on after the push is cancelled. Distribution-based registries drop an upload
    /// session whose last chunk arrived cut short, so a chunk finished here keeps the session (and every byte sent
    /// before it) for the next push; a cancelled push stops between chunks.
    /// </summary>
    public TimeSpan CancelGrace { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Called after each chunk the registry acknowledged (the blob and its offset), once recorded. For tests.</summary>
    internal Action<Digest, long>? ChunkSent { get; init; }

    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    internal void Validate()
    {
        if (Concurrency is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(Concurrency), Concurrency, "must be from 1 to 64");
        }

        if (ChunkSize is < (64 << 10) or > (1L << 30))
        {
            throw new ArgumentOutOfRangeException(nameof(ChunkSize), ChunkSize, "must be from 64 KiB to 1 GiB");
        }

        if (MaxChunkSize is < (64 << 10) or > (1L << 30))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxChunkSize), MaxChunkSize, "must be from 64 KiB to 1 GiB");
        }

        foreach ((string host, long size) in ChunkSizeByHost)
        {
            if (size != 0 && size is < (64 << 10) or > (1L << 30))
            {
                throw new ArgumentOutOfRangeException(nameof(ChunkSizeByHost), size, $"the request size for {host} must be 0 (whole blobs) or from 64 KiB to 1 GiB");
            }
        }
    }
}
