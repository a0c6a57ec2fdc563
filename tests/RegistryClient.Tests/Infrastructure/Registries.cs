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

    /// <summary>A client over its own handler, as <c>AddRegistryClient</c> sets it up; anonymous unless the options give credentials.</summary>
    public static RemoteRegistry Create(RegistryOptions? options = null)
    {
        options ??= FastRetries;
        return new RemoteRegistry(new HttpClient(RegistryClientServices.CreateHandler(options)) { Timeout = Timeout.InfiniteTimeSpan }, options);
    }
}
