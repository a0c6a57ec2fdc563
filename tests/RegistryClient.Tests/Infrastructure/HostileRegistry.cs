using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using RegistryClient.Server;
using RegistryClient.Store;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>What a request to a <see cref="HostileRegistry"/> is, and how many of its kind came before it (1-based).</summary>
public sealed record HostileRequest(string Kind, int Number, string Path, string Range);

/// <summary>
/// The project's real registry handler over a store, behind a fault hook: for each request the hook may answer
/// itself (return true) or let the real handler answer. Requests are numbered per kind (manifest, chunksums,
/// blob), so a script can say "the first two blob requests" or "every chunksums request".
/// </summary>
public sealed class HostileRegistry : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private FaultServer _server = null!;

    private HostileRegistry()
    {
    }

    public FaultServer Server => _server;

    public string HostAndPort => _server.HostAndPort;

    /// <summary>Answers a request itself and returns true, or returns false to let the real handler answer.</summary>
    public Func<HttpContext, HostileRequest, Task<bool>>? Fault { get; set; }

    public static async Task<HostileRegistry> StartAsync(ModelStore store, long chunkSize, string address = "127.0.0.1")
    {
        var handler = new RegistryHandler(store, upstream: null, chunkSize);
        var registry = new HostileRegistry();
        registry._server = await FaultServer.StartAsync(context => registry.HandleAsync(context, handler), address);
        return registry;
    }

    public int Count(string kind) => _counts.TryGetValue(kind, out int n) ? n : 0;

    /// <summary>The connections blob requests came over (Kestrel's connection ids).</summary>
    public ConcurrentDictionary<string, byte> BlobConnections { get; } = new(StringComparer.Ordinal);

    public void Reset()
    {
        _counts.Clear();
        BlobConnections.Clear();
    }

    private async Task HandleAsync(HttpContext context, RegistryHandler handler)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        string kind = path.Contains("/blobs/", StringComparison.Ordinal) ? "blob"
            : path.Contains("/chunksums/", StringComparison.Ordinal) ? "chunksums"
            : path.Contains("/manifests/", StringComparison.Ordinal) ? "manifest"
            : "other";
        int number = _counts.AddOrUpdate(kind, 1, (_, n) => n + 1);
        if (kind == "blob")
        {
            BlobConnections.TryAdd(context.Connection.Id, 0);
        }

        var request = new HostileRequest(kind, number, path, context.Request.Headers.Range.ToString());
        try
        {
            if (Fault is { } fault && await fault(context, request))
            {
                return;
            }

            await handler.HandleAsync(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away while the fault held the request.
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
