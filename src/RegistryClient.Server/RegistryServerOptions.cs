namespace RegistryClient.Server;

/// <summary>How a <see cref="RegistryServer"/> listens and what it serves.</summary>
public sealed record RegistryServerOptions
{
    /// <summary>The store to serve (required).</summary>
    public required string StoreRoot { get; init; }

    /// <summary><c>HOST:PORT</c> to listen on. Default <c>127.0.0.1:0</c> (loopback, a free port).</summary>
    public string Listen { get; init; } = "127.0.0.1:0";

    /// <summary>The TLS certificate (with its private key) to serve https with; null means plain http. Default null.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; init; }

    /// <summary>
    /// When several upstream hosts in the store hold the same namespace/model:tag, the one to serve. Null means
    /// <c>registry.ollama.ai</c> if present, else the first host in ordinal order.
    /// </summary>
    public string? Upstream { get; init; }

    /// <summary>The chunk size of the chunksums lists the server offers. Default <see cref="DefaultChunkSize"/>; from 64 KiB to 1 GiB.</summary>
    public long ChunkSize { get; init; } = DefaultChunkSize;

    /// <summary>The default chunk size of chunksums lists (see the README for the measurement behind it).</summary>
    public const long DefaultChunkSize = 16L << 20;

    /// <summary>
    /// Accept pushes (blob uploads and manifests) into the store. Anyone who can reach the address may push: keep such
    /// a server on loopback or behind a proxy that authenticates. Default false (read-only).
    /// </summary>
    public bool AllowPush { get; init; }

    /// <summary>
    /// A registry to pull through: <c>host[:port]</c> as in a model name (<c>registry.ollama.ai</c>,
    /// <c>127.0.0.1:5000</c>). What the store lacks is fetched from it once, verified, kept and served; tags are asked
    /// of it again after <see cref="TagTtl"/>. Null (the default) serves the store alone.
    /// </summary>
    public string? PullThrough { get; init; }

    /// <summary>How to reach <see cref="PullThrough"/>: the server's own credentials, TLS, proxies. Null means the defaults.</summary>
    public RegistryClient.Remote.RegistryOptions? PullThroughRegistry { get; init; }

    /// <summary>How long a tag fetched from <see cref="PullThrough"/> is served before the upstream is asked again. Default 5 minutes.</summary>
    public TimeSpan TagTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Where one common-log-format line per request goes. Null means nowhere.</summary>
    public TextWriter? AccessLog { get; init; }
}
