using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;

namespace RegistryClient.Server;

/// <summary>
/// The OCI distribution API over an Ollama-compatible store, on Kestrel: <c>/v2/</c>, manifests by tag and digest,
/// blobs with Range, <c>tags/list</c> and <c>_catalog</c>; with <see cref="RegistryServerOptions.AllowPush"/>, blob
/// uploads (resumable: an upload's offset is what arrived) and manifests too. One access-log line per
/// request in common log format.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RegistryHandler _handler;

    private RegistryServer(WebApplication app, Uri baseAddress, RegistryHandler handler)
    {
        _app = app;
        BaseAddress = baseAddress;
        _handler = handler;
    }

    /// <summary>How many chunksums lists this server computed from blob bytes (the rest came from sidecars).</summary>
    internal int ChunkSumsComputed => _handler.ChunkSums.Computed;

    private PullThroughCache? _cache;
    private ServerMetrics? _metrics;
    private HttpClient? _upstreamHttp;

    /// <summary>Blob bytes this server fetched from the registry it pulls through; 0 without one.</summary>
    public long BytesFilled => _cache?.BytesFilled ?? 0;

    /// <summary>Upload sessions untouched this long are removed when a server starts (distribution keeps them a week too).</summary>
    public static readonly TimeSpan StaleUploadAge = TimeSpan.FromDays(7);

    /// <summary>Blob bytes this server received in uploads (cut bodies included); 0 when it is read-only.</summary>
    public long BytesReceived => _handler.Push?.BytesReceived ?? 0;

    /// <summary>The address the server listens on, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The <c>host:port</c> of <see cref="BaseAddress"/>, as a model name's host.</summary>
    public string HostAndPort => BaseAddress.Authority;

    /// <summary>Starts serving <see cref="RegistryServerOptions.StoreRoot"/>.</summary>
    /// <exception cref="ArgumentException">The listen address is not <c>HOST:PORT</c>.</exception>
    /// <exception cref="IOException">The address is in use or cannot be bound.</exception>
    public static async Task<RegistryServer> StartAsync(RegistryServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        IPEndPoint endpoint = ParseListen(options.Listen);
        var store = new ModelStore(options.StoreRoot);
        if (options.ChunkSize is < (64 << 10) or > (1L << 30))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ChunkSize, "the chunk size must be from 64 KiB to 1 GiB");
        }

        PullThroughCache? cache = null;
        HttpClient? upstreamHttp = null;
        if (options.PullThrough is { } pullThrough)
        {
            if (options.AllowPush)
            {
                throw new ArgumentException("a pull-through cache does not take pushes: it serves what its upstream has", nameof(options));
            }

            if (!ModelName.TryParse($"{pullThrough}/library/probe", out ModelName? probe, out string? error) || probe.Host != pullThrough.ToLowerInvariant())
            {
                throw new ArgumentException($"--pull-through wants a registry host[:port] such as registry.ollama.ai or 127.0.0.1:5000, not \"{pullThrough}\" ({error})", nameof(options));
            }

            RegistryOptions registryOptions = options.PullThroughRegistry ?? new RegistryOptions();
#pragma warning disable CA2000 // Owned by the HttpClient, which the server disposes.
            upstreamHttp = new HttpClient(RegistryClientServices.CreateHandler(registryOptions)) { Timeout = Timeout.InfiniteTimeSpan };
#pragma warning restore CA2000
            cache = new PullThroughCache(store, new RemoteRegistry(upstreamHttp, registryOptions), probe.Host, options.TagTtl, null);
        }

        var handler = new RegistryHandler(store, options.Upstream ?? cache?.Host, options.ChunkSize, options.AllowPush, cache);
        handler.Push?.RemoveStale(StaleUploadAge);
        var metrics = new ServerMetrics(() => handler.Push?.BytesReceived ?? 0, () => cache?.BytesFilled ?? 0);
        handler.Metrics = metrics;
        var accessLog = new AccessLog(options.AccessLog, metrics);
        (WebApplication app, Uri baseAddress) = await KestrelHost.StartAsync(
            endpoint,
            app =>
            {
                app.Use(accessLog.InvokeAsync);
                app.Run(handler.HandleAsync);
            },
            kestrel =>
            {
                kestrel.Limits.MaxRequestBodySize = options.AllowPush ? null : 0; // an upload is as large as its blob
                kestrel.Limits.MaxRequestLineSize = 8 << 10;
                kestrel.Limits.MaxRequestHeadersTotalSize = 32 << 10;
                kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);
            },
            cancellationToken,
            options.Certificate).ConfigureAwait(false);
        return new RegistryServer(app, baseAddress, handler) { _cache = cache, _upstreamHttp = upstreamHttp, _metrics = metrics };
    }

    /// <summary>Waits until the server is stopped or <paramref name="cancellationToken"/> fires.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops the server and releases its port.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _cache?.Dispose();
        _metrics?.Dispose();
        _upstreamHttp?.Dispose();
    }

    internal static IPEndPoint ParseListen(string listen)
    {
        int colon = listen.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(listen.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            throw new ArgumentException($"--listen wants HOST:PORT (for example 127.0.0.1:5000), not \"{listen}\"", nameof(listen));
        }

        string host = listen[..colon].Trim('[', ']');
        if (host == "localhost")
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        if (!IPAddress.TryParse(host, out IPAddress? address))
        {
            throw new ArgumentException($"--listen wants an IP address or localhost, not \"{host}\"", nameof(listen));
        }

        return new IPEndPoint(address, port);
    }
}
