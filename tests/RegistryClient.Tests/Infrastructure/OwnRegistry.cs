using System.Text;
using RegistryClient.Server;
using RegistryClient.Store;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>The project's own server over a store, with its access log captured for byte counting.</summary>
public sealed class OwnRegistry : IAsyncDisposable
{
    private readonly StringBuilder _log = new();
    private readonly RegistryServer _server;

    private OwnRegistry(RegistryServer server, StringBuilder log)
    {
        _server = server;
        _log = log;
    }

    public string HostAndPort => _server.HostAndPort;

    public Uri BaseAddress => _server.BaseAddress;

    public int ChunkSumsComputed => _server.ChunkSumsComputed;

    /// <summary>Blob bytes the server fetched from the registry it pulls through.</summary>
    public long BytesFilled => _server.BytesFilled;

    /// <summary>Blob bytes the server received in uploads, counted on its side.</summary>
    public long BytesReceived => _server.BytesReceived;

    public static async Task<OwnRegistry> StartAsync(
        ModelStore store, long chunkSize = RegistryServerOptions.DefaultChunkSize, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null, string listen = "127.0.0.1:0", bool allowPush = false,
        string? pullThrough = null, TimeSpan? tagTtl = null)
    {
        var log = new StringBuilder();
        RegistryServer server = await RegistryServer.StartAsync(new RegistryServerOptions
        {
            StoreRoot = store.Root,
            AccessLog = new StringWriter(log),
            ChunkSize = chunkSize,
            Certificate = certificate,
            Listen = listen,
            AllowPush = allowPush,
            PullThrough = pullThrough,
            PullThroughRegistry = Registries.FastRetries with { Insecure = true },
            TagTtl = tagTtl ?? TimeSpan.FromMinutes(5),
        });
        return new OwnRegistry(server, log);
    }

    public string[] LogLines()
    {
        lock (_log)
        {
            return _log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    /// <summary>
    /// The log once it has stopped growing: a request's line is written after its response completes, so right
    /// after a client returns the last line may still be on its way.
    /// </summary>
    public async Task<string[]> SettledLogLinesAsync()
    {
        string[] lines = LogLines();
        while (true)
        {
            await Task.Delay(100);
            string[] again = LogLines();
            if (again.Length == lines.Length)
            {
                return again;
            }

            lines = again;
        }
    }

    /// <summary>Body bytes the server sent for requests whose path contains <paramref name="pathContains"/>.</summary>
    public long BytesServed(string pathContains) =>
        LogLines().Where(l => l.Contains(pathContains, StringComparison.Ordinal)).Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
