using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Remote;

/// <summary>
/// The HTTP connections of one pull's peers: proxies and TLS as <see cref="RegistryOptions"/> say, and nothing that
/// authenticates (no credentials, no Ollama key, no token requests), no redirects.
/// </summary>
public sealed class PeerConnections : IDisposable
{
    private readonly HttpClient _http;

    /// <summary>Connections configured as <paramref name="options"/> says, without its credentials.</summary>
    public PeerConnections(RegistryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
#pragma warning disable CA2000 // Owned by the HttpClient, which this disposes.
        _http = new HttpClient(RegistryClientServices.CreateHandler(options with { Credentials = null, OllamaKeyPath = null }))
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
#pragma warning restore CA2000
    }

    /// <summary><paramref name="blob"/> of <paramref name="repository"/> at the peer <paramref name="peer"/>.</summary>
    public PeerBlobSource Source(Uri peer, ModelName repository, Descriptor blob) => new(_http, peer, repository, blob);

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();
}
