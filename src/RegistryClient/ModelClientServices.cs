using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RegistryClient.Maintenance;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient;

/// <summary>Registers the whole client in a service container.</summary>
public static class ModelClientServices
{
    /// <summary>
    /// Adds everything a host needs to pull, mirror and maintain models, as singletons built from one
    /// <see cref="ModelClientOptions"/>: the <see cref="ModelClient"/> facade, and its parts for finer use
    /// (<see cref="RemoteRegistry"/> over a named <see cref="HttpClient"/> from <see cref="IHttpClientFactory"/>,
    /// <see cref="ModelStore"/>, <see cref="ModelPuller"/>, <see cref="ModelMirror"/>, <see cref="StoreVerifier"/>,
    /// <see cref="StoreRepairer"/>, <see cref="StorePruner"/>), with logging through the container's <see cref="ILoggerFactory"/>.
    /// </summary>
    /// <param name="services">The container.</param>
    /// <param name="configure">Changes to the default options, such as <c>o =&gt; o with { ModelsDirectory = "/srv/models" }</c>; null keeps the defaults.</param>
    /// <example><code>services.AddRegistryClient(o => o with { ModelsDirectory = "/srv/models", InsecureHosts = ["registry.lan:5000"] });</code></example>
    public static IServiceCollection AddRegistryClient(this IServiceCollection services, Func<ModelClientOptions, ModelClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ModelClientOptions options = configure?.Invoke(new ModelClientOptions()) ?? new ModelClientOptions();
        services.AddLogging();
        services.AddSingleton(options);
        services.AddSingleton(_ => options.ToRegistryOptions());
        services.AddHttpClient(RegistryClientServices.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(provider => RegistryClientServices.CreateHandler(provider.GetRequiredService<RegistryOptions>()))
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();
        services.AddMemoryCache();
        services.AddSingleton(provider => new RemoteRegistry(
            provider.GetRequiredService<IHttpClientFactory>().CreateClient(RegistryClientServices.HttpClientName),
            provider.GetRequiredService<RegistryOptions>(),
            provider.GetService<ILogger<RemoteRegistry>>(),
            tokenCache: provider.GetRequiredService<Microsoft.Extensions.Caching.Memory.IMemoryCache>()));
        services.AddSingleton(_ => ModelStore.Open(ModelStore.ResolveRoot(options.ModelsDirectory)));
        services.AddSingleton(provider => new ModelPuller(
            provider.GetRequiredService<RemoteRegistry>(), provider.GetRequiredService<ModelStore>(), options.Pull, provider.GetService<ILogger<ModelPuller>>()));
        services.AddSingleton(provider => new ModelMirror(provider.GetRequiredService<RemoteRegistry>(), options.Pull, provider.GetService<ILogger<ModelPuller>>()));
        services.AddSingleton(provider => new StoreVerifier(provider.GetRequiredService<ModelStore>()));
        services.AddSingleton(provider => new StoreRepairer(
            provider.GetRequiredService<RemoteRegistry>(), provider.GetRequiredService<ModelStore>(), options.Pull, provider.GetService<ILogger<ModelPuller>>()));
        services.AddSingleton(provider => new StorePruner(provider.GetRequiredService<ModelStore>()));
        services.AddSingleton(provider => new ModelClient(
            provider.GetRequiredService<RemoteRegistry>(), provider.GetRequiredService<ModelStore>(), options, provider.GetService<ILoggerFactory>()));
        return services;
    }
}
