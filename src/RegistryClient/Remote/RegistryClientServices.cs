using System.Net;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RegistryClient.Remote;

/// <summary>Registers the registry client's <see cref="HttpClient"/> with <see cref="IHttpClientFactory"/>.</summary>
public static class RegistryClientServices
{
    /// <summary>The name of the HTTP client registered for registries.</summary>
    public const string HttpClientName = "registry";

    /// <summary>
    /// Adds a named <see cref="HttpClient"/> set up for registries (no automatic redirects, no decompression, no
    /// cookies, infinite overall timeout: <see cref="RemoteRegistry"/> bounds requests itself) and a singleton
    /// <see cref="RemoteRegistry"/> over it.
    /// </summary>
    public static IServiceCollection AddRegistryClient(this IServiceCollection services, RegistryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddHttpClient(HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => CreateHandler(options))
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();
        services.AddMemoryCache();
        services.AddSingleton(provider => new RemoteRegistry(
            provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            options,
            provider.GetService<ILogger<RemoteRegistry>>(),
            tokenCache: provider.GetRequiredService<IMemoryCache>()));
        return services;
    }

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
