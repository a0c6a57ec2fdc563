using Microsoft.Extensions.DependencyInjection;
using RegistryClient.Remote;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>Real <see cref="RemoteRegistry"/> clients over the real HTTP stack, with test-speed retries.</summary>
public static class Registries
{
    public static readonly RegistryOptions FastRetries = new()
    {
        RetryDelay = TimeSpan.Zero,
        MaxRetryDelay = TimeSpan.Zero,
        MaxRetries = 2,
        RequestTimeout = TimeSpan.FromSeconds(20),
    };

    public static RemoteRegistry Create(RegistryOptions? options = null)
    {
        // One provider per client is fine in tests; the CLI keeps one per process.
        ServiceProvider services = new ServiceCollection().AddRegistryClient(options ?? FastRetries).BuildServiceProvider();
        return services.GetRequiredService<RemoteRegistry>();
    }
}
