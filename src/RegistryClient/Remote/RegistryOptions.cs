namespace RegistryClient.Remote;

/// <summary>How <see cref="RemoteRegistry"/> talks to registries. Validated by its constructor.</summary>
public sealed record RegistryOptions
{
    /// <summary>
    /// Every host is insecure (see <see cref="InsecureHosts"/>): plain http for names that do not spell their scheme
    /// (<c>http://</c> or <c>https://</c>), and TLS certificates not verified. For tests and trusted networks only;
    /// the CLI's <c>--insecure</c> sets <see cref="InsecureHosts"/> instead. Default false.
    /// </summary>
    public bool Insecure { get; init; }

    /// <summary>
    /// Hosts (<c>host</c> or <c>host:port</c>, as written in model names) that may be spoken to insecurely: plain http
    /// for names without a scheme, and, over https, a certificate that does not verify. Every other host (a storage
    /// host a blob is redirected to, a token realm elsewhere) is still verified. Never a silent fallback from https
    /// to http. Default empty.
    /// </summary>
    public IReadOnlySet<string> InsecureHosts { get; init; } = new HashSet<string>();

    /// <summary>Where credentials for registries come from (for example <see cref="DockerConfig"/>); null means anonymous only. Default null.</summary>
    public ICredentialSource? Credentials { get; init; }

    /// <summary>
    /// An Ollama client key (OpenSSH Ed25519) used to sign token requests to a realm on the registry's own host when no
    /// credential is configured for it, as Ollama's client does; null, or a path that does not exist, means none.
    /// Default null (the CLI passes <c>~/.ollama/id_ed25519</c>).
    /// </summary>
    public string? OllamaKeyPath { get; init; }

    /// <summary>
    /// A PEM bundle of CA certificates that alone are trusted for TLS (as OpenSSL's <c>SSL_CERT_FILE</c>, which the
    /// CLI passes); null means the system's trust store. Default null.
    /// </summary>
    public string? CaBundlePath { get; init; }

    /// <summary>True when <paramref name="authority"/> (host or host:port) may use plain http.</summary>
    internal bool IsInsecure(string authority) =>
        Insecure || InsecureHosts.Any(h => string.Equals(h, authority, StringComparison.OrdinalIgnoreCase));

    /// <summary>True when TLS certificates of <paramref name="host"/> (no port: certificates name hosts) are not verified.</summary>
    internal bool SkipsTlsVerification(string? host) => Insecure || (host is not null && InsecureHosts.Any(
        h => string.Equals(HostPart(h), host, StringComparison.OrdinalIgnoreCase)));

    private static string HostPart(string authority)
    {
        if (authority.StartsWith('['))
        {
            int close = authority.IndexOf(']', StringComparison.Ordinal);
            return close > 0 ? authority[1..close] : authority;
        }

        int colon = authority.LastIndexOf(':');
        return colon > 0 ? authority[..colon] : authority;
    }

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

    /// <summary>
    /// How long setting up one connection (TCP, and TLS) may take before it fails, in the handler
    /// <see cref="RegistryClientServices.CreateHandler"/> makes. On the first request to a registry the failure is
    /// reported at once; later it is retried like any dropped connection. Default 10 s.
    /// </summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

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

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "must be positive");
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
