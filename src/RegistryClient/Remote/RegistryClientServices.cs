using System.Net;

namespace RegistryClient.Remote;

/// <summary>The HTTP set-up registries are spoken to with (see <c>AddRegistryClient</c> for the whole client in a container).</summary>
public static class RegistryClientServices
{
    /// <summary>The name of the HTTP client <c>AddRegistryClient</c> registers for registries.</summary>
    public const string HttpClientName = "registry";

    /// <summary>The handler registries are spoken to with.</summary>
    /// <remarks>
    /// Proxies come from the environment (<c>HTTPS_PROXY</c>, <c>HTTP_PROXY</c>, <c>ALL_PROXY</c>, <c>NO_PROXY</c>, upper
    /// or lower case), as .NET reads them; https goes through a proxy by <c>CONNECT</c>, so the proxy sees no request
    /// and no credential. TLS trusts <see cref="RegistryOptions.CaBundlePath"/> alone when given, and skips
    /// verification only for <see cref="RegistryOptions.InsecureHosts"/>.
    /// </remarks>
    /// <exception cref="InvalidDataException">The CA bundle holds no PEM certificate.</exception>
    public static SocketsHttpHandler CreateHandler(RegistryOptions? options = null)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = options?.MaxConnectionsPerServer ?? int.MaxValue,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options?.ConnectTimeout ?? new RegistryOptions().ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        };
        if (options is not null)
        {
            TlsTrust.Apply(handler.SslOptions, options);
        }

        return handler;
    }
}
