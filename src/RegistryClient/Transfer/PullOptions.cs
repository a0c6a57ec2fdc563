namespace RegistryClient.Transfer;

/// <summary>How a <see cref="ModelPuller"/> transfers blobs. Validated by its constructor.</summary>
public sealed record PullOptions
{
    /// <summary>The default number of parallel range requests across all blobs.</summary>
    public const int DefaultConcurrency = 8;

    /// <summary>
    /// How many range requests run at once, across every blob of every model in one pull. Default
    /// <see cref="DefaultConcurrency"/>; from 1 to 64.
    /// </summary>
    public int Concurrency { get; init; } = DefaultConcurrency;

    /// <summary>The size of each range of a large blob. Default 16 MiB; from 64 KiB to 1 GiB.</summary>
    public long RangeSize { get; init; } = 16L << 20;

    /// <summary>Blobs up to this size are fetched in one request; larger ones in ranges. Default 32 MiB.</summary>
    public long ParallelThreshold { get; init; } = 32L << 20;

    /// <summary>
    /// Blobs of at least this size are fetched by the registry's chunksums when it offers them (each chunk checked
    /// against its digest, see <see cref="VerifyChunksOnArrival"/>); smaller ones, and all blobs of registries without chunksums, by the puller's own ranges.
    /// Default 64 MiB, as Ollama's client; <see cref="long.MaxValue"/> never asks.
    /// </summary>
    public long ChunkSumsThreshold { get; init; } = 64L << 20;

    /// <summary>A request that receives no bytes for this long is cancelled and continued. Default 30 s.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The most bytes per second all transfers of a pull take together (<c>--limit-rate</c>); null means no limit.</summary>
    public long? LimitRate { get; init; }

    /// <summary>
    /// How far beyond a blob's hashed (verified) prefix a range may start; ranges further on wait while workers take
    /// other work. Keeps the download paced to the whole-blob hash, which on CPUs without SHA extensions is the
    /// slowest stage: both then share the cores, and the page cache holds at most about this much unverified data.
    /// Default 128 MiB; at least 64 KiB.
    /// </summary>
    public long HashWindow { get; init; } = 128L << 20;

    /// <summary>The default <see cref="MemoryLimit"/>: 48 MiB (a pull's whole process then peaks at about 85 MiB).</summary>
    public const long DefaultMemoryLimit = 48L << 20;

    /// <summary>The least <see cref="MemoryLimit"/>: 8 MiB.</summary>
    public const long MinMemoryLimit = 8L << 20;

    /// <summary>
    /// The most memory a pull's transfer buffers take together (<c>--memory</c>): each worker's read buffer
    /// (<see cref="Concurrency"/> × <see cref="BufferSize"/>), the hash's read buffer, and received bytes held in memory
    /// until the whole-blob hash reads them. Bytes that find no room go through the page cache and the hash reads them
    /// back from the file: slower, never wrong. Default <see cref="DefaultMemoryLimit"/>; at least 8 MiB.
    /// </summary>
    public long MemoryLimit { get; init; } = DefaultMemoryLimit;

    /// <summary>
    /// Keep received bytes in memory until the whole-blob hash has read them (true, default), within
    /// <see cref="MemoryLimit"/>, and write them past the page cache where the file system allows it; or read them back
    /// from the file (false). For tests and measurements.
    /// </summary>
    internal bool HoldReceivedBytes { get; init; } = true;

    /// <summary>Bytes the held receive buffers may take together; null (default) means what <see cref="MemoryLimit"/> leaves (<see cref="HeldBytesLimit"/>). For tests.</summary>
    internal long? ReceiveBufferBytes { get; init; }

    /// <summary>The hash's read buffer (bytes not held are read back from the file through it).</summary>
    internal const int HashReadBufferSize = 4 << 20;

    /// <summary>Bytes of received data a pull may hold in memory: <see cref="MemoryLimit"/> less the workers' and the hash's read buffers.</summary>
    internal long HeldBytesLimit => ReceiveBufferBytes ?? Math.Max(0, MemoryLimit - ((long)Concurrency * BufferSize) - HashReadBufferSize);

    /// <summary>Chunk digests in the eight-lane engine (true) or through OpenSSL (false); null (default) picks by CPU and concurrency. For tests and measurements.</summary>
    internal bool? HashChunksInLanes { get; init; }

    /// <summary>
    /// When a blob's chunk digests are known (the registry's chunksums), check each chunk as it arrives (true), or let
    /// the whole-blob digest decide and check the chunks only if it fails, to fetch again just the chunks that are wrong
    /// (false). Either way nothing unverified reaches <c>blobs/</c> and an interrupted pull re-checks the chunks it
    /// keeps. Null (default): on arrival where chunk hashes run in the eight-lane engine (a CPU without SHA extensions,
    /// where that costs little), else at the end: with SHA extensions hashing every byte twice would cost more than the
    /// rare refetch saves.
    /// </summary>
    public bool? VerifyChunksOnArrival { get; init; }

    /// <summary>
    /// Other machines that hold the model (each a <c>regc serve</c>, or any server answering Range on
    /// <c>/v2/&lt;repository&gt;/blobs/&lt;digest&gt;</c>): chunks of a blob whose chunk digests came from the origin are
    /// taken from them, spread by measured speed, each checked against the origin's digest as it arrives (whatever
    /// <see cref="VerifyChunksOnArrival"/> says). A peer that serves a wrong chunk is dropped for the rest of the pull
    /// and named in <see cref="PullResult.Warnings"/>. Manifests and chunk lists always come from the origin; peers get
    /// no credentials. Without chunk digests from the origin, a blob comes from the origin alone. Default none.
    /// </summary>
    public IReadOnlyList<Uri> Peers { get; init; } = [];

    /// <summary>The buffer each worker reads into and writes from. Default 1 MiB; from 4 KiB to 16 MiB.</summary>
    public int BufferSize { get; init; } = 1 << 20;

    /// <summary>Index platform to pull (<c>os/arch[/variant]</c>); null means this machine's, or an index's only entry.</summary>
    public string? Platform { get; init; }

    /// <summary>
    /// When a name resolves to an index (multi-platform), keep the index at the tag and every child manifest and
    /// blob (<c>regc mirror</c>), instead of picking one platform. Default false.
    /// </summary>
    public bool WholeIndex { get; init; }

    /// <summary>
    /// Write whole aligned blocks of received bytes past the page cache where the platform and file system allow it
    /// (Linux <c>O_DIRECT</c>; anything refused falls back to ordinary writes). Default true; false keeps every write in
    /// the page cache (for comparisons, or a file system that misbehaves).
    /// </summary>
    public bool DirectWrites { get; init; } = true;

    /// <summary>
    /// Called synchronously on the thread that reaches each durability stage of a pull: <c>after-chunksums</c> (a blob's
    /// chunk list is known), <c>after-flush</c> (a batch of chunks is on disk, before it is recorded),
    /// <c>before-commit</c> (a blob's digest matched, before it moves into <c>blobs/</c>) and <c>before-manifest</c>. For
    /// tracing, and for crash-recovery tests that stop a process at one of them. Null (default) means none; must be cheap.
    /// </summary>
    public Action<string>? StageReached { get; init; }

    /// <summary>
    /// Called each time a chunk of a blob has been checked against its chunk digest and written to the blob's partial
    /// file, with a way to read it there: for a server that serves a blob while it is still downloading (once the blob
    /// is committed, its bytes are in <c>blobs/</c>). Only chunks checked on arrival are reported
    /// (<see cref="VerifyChunksOnArrival"/>). Must be cheap. Null (default) means none.
    /// </summary>
    public Action<VerifiedChunk>? ChunkVerified { get; init; }

    internal void Validate()
    {
        if (Peers.FirstOrDefault(p => !p.IsAbsoluteUri || p.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(p.UserInfo)) is { } peer)
        {
            throw new ArgumentException($"a peer is an http(s) address without user information, like http://10.0.0.5:5000, not \"{peer}\"", nameof(Peers));
        }

        if (Concurrency is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(Concurrency), Concurrency, "must be from 1 to 64");
        }

        if (RangeSize is < (64 << 10) or > (1L << 30))
        {
            throw new ArgumentOutOfRangeException(nameof(RangeSize), RangeSize, "must be from 64 KiB to 1 GiB");
        }

        if (ParallelThreshold < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ParallelThreshold), ParallelThreshold, "must not be negative");
        }

        if (ChunkSumsThreshold < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ChunkSumsThreshold), ChunkSumsThreshold, "must not be negative");
        }

        if (StallTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(StallTimeout), StallTimeout, "must be positive");
        }

        if (LimitRate is < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(LimitRate), LimitRate, "must be at least 1 KiB/s");
        }

        if (HashWindow < (64 << 10))
        {
            throw new ArgumentOutOfRangeException(nameof(HashWindow), HashWindow, "must be at least 64 KiB");
        }

        if (MemoryLimit < MinMemoryLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MemoryLimit), MemoryLimit, "must be at least 8 MiB");
        }

        if (BufferSize is < 4096 or > (16 << 20))
        {
            throw new ArgumentOutOfRangeException(nameof(BufferSize), BufferSize, "must be from 4 KiB to 16 MiB");
        }
    }
}
