using System.Net;
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
        services.AddSingleton(provider => new RemoteRegistry(
            provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            options,
            provider.GetService<ILogger<RemoteRegistry>>()));
        return services;
    }

    /// <summary>The handler registries are spoken to with.</summary>
    public static SocketsHttpHandler CreateHandler(RegistryOptions? options = null) => new()
    {
        MaxConnectionsPerServer = options?.MaxConnectionsPerServer ?? int.MaxValue,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
        PooledConnectionLifetime = TimeSpan.FromMinutes(10),
    };
}
