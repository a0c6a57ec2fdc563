using RegistryClient.Remote;
using RegistryClient.Transfer;

namespace RegistryClient;

/// <summary>How a <see cref="ModelClient"/> is set up. Every property has a default that works as <c>regc</c> does.</summary>
public sealed record ModelClientOptions
{
    /// <summary>The model store: an Ollama store, or an OCI layout. Null (default) means <c>$OLLAMA_MODELS</c>, else <c>~/.ollama/models</c>.</summary>
    public string? ModelsDirectory { get; init; }

    /// <summary>
    /// Registries (<c>host</c> or <c>host:port</c>, as in model names) that may be spoken to insecurely: plain http for
    /// names without a scheme, and over https a certificate that does not verify. Default none.
    /// </summary>
    public IReadOnlyCollection<string> InsecureHosts { get; init; } = [];

    /// <summary>
    /// Where credentials come from. Null (default) means Docker's <c>config.json</c> (<c>$DOCKER_CONFIG</c>, else
    /// <c>~/.docker</c>), read as Docker and <c>regc login</c> write it; a source that finds nothing is anonymous.
    /// </summary>
    public ICredentialSource? Credentials { get; init; }

    /// <summary>
    /// An Ollama client key (OpenSSH Ed25519) for signed token requests to a realm on a registry's own host when no
    /// credential is configured. Null (default) means <c>~/.ollama/id_ed25519</c>, used when it exists.
    /// </summary>
    public string? OllamaKeyPath { get; init; }

    /// <summary>
    /// The rest of the registry settings (retries, timeouts, proxies' CA bundle, connection limits). Its
    /// <see cref="RegistryOptions.InsecureHosts"/>, <see cref="RegistryOptions.Credentials"/> and
    /// <see cref="RegistryOptions.OllamaKeyPath"/> are set from this record's. Default: <see cref="RegistryOptions"/>'s defaults.
    /// </summary>
    public RegistryOptions Registry { get; init; } = new();

    /// <summary>How blobs are transferred (concurrency, chunk sizes, stall timeout, rate limit). Default: <see cref="PullOptions"/>'s defaults.</summary>
    public PullOptions Pull { get; init; } = new();

    /// <summary>The registry settings in force: <see cref="Registry"/> with this record's hosts, credentials and key (their defaults applied).</summary>
    public RegistryOptions ToRegistryOptions() => Registry with
    {
        InsecureHosts = InsecureHosts.Count > 0 ? InsecureHosts.ToHashSet(StringComparer.OrdinalIgnoreCase) : Registry.InsecureHosts,
        Credentials = Credentials ?? Registry.Credentials ?? CredentialFiles.Load(),
        OllamaKeyPath = OllamaKeyPath ?? Registry.OllamaKeyPath ?? OllamaKey.DefaultPath(),
    };
}
