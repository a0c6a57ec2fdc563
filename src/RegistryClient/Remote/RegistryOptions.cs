namespace RegistryClient.Remote;

/// <summary>How <see cref="RemoteRegistry"/> talks to registries. Validated by its constructor.</summary>
public sealed record RegistryOptions
{
    /// <summary>
    /// Use plain http for names that do not spell their scheme (<c>http://</c> or <c>https://</c>).
    /// Default false: https only, never a silent fallback.
    /// </summary>
    public bool Insecure { get; init; }

    /// <summary>The largest manifest accepted, in bytes; more is refused after reading at most this plus one. Default 4 MiB.</summary>
    public int MaxManifestBytes { get; init; } = 4 << 20;

    /// <summary>How many times a failed request is retried when the failure is transient. Default 5; zero means no retry.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The first retry delay; later ones grow exponentially, with jitter. Default 1 s; zero for tests.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between two attempts, also the cap on <c>Retry-After</c>. Default 30 s.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a manifest, chunksums or other small request may go without an answer, per attempt: the time
    /// starts again with each 64 KiB received. Default 30 s; three timeouts in one request end it, so a registry
    /// that never answers fails in about a minute and a half.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The most connections open to one host at once (<c>--max-connections</c>); null means no limit beyond the pull's concurrency.</summary>
    public int? MaxConnectionsPerServer { get; init; }

    /// <summary>The most redirects followed for one request. Default 10.</summary>
    public int MaxRedirects { get; init; } = 10;

    /// <summary>The <c>User-Agent</c> sent. Default <c>regc/&lt;version&gt;</c>.</summary>
    public string UserAgent { get; init; } = "regc/" + (typeof(RegistryOptions).Assembly.GetName().Version?.ToString(3) ?? "0");

    internal void Validate()
    {
        if (MaxManifestBytes is < 1024 or > (64 << 20))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxManifestBytes), MaxManifestBytes, "must be from 1 KiB to 64 MiB");
        }

        if (MaxRetries is < 0 or > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "must be from 0 to 100");
        }

        if (RetryDelay < TimeSpan.Zero || MaxRetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RetryDelay), RetryDelay, "delays must not be negative");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "must be positive");
        }

        if (MaxConnectionsPerServer is < 1 or > 256)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnectionsPerServer), MaxConnectionsPerServer, "must be from 1 to 256");
        }

        if (MaxRedirects is < 0 or > 20)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRedirects), MaxRedirects, "must be from 0 to 20");
        }
    }
}
