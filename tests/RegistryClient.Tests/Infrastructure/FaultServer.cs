using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using RegistryClient.Server;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// A scripted HTTP server on Kestrel at 127.0.0.1:0: each test gives the handler, and the server records every
/// request (method, path, Range, Authorization) so tests can assert what was and was not asked for.
/// </summary>
public sealed class FaultServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FaultServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public string HostAndPort => BaseAddress.Authority;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public static async Task<FaultServer> StartAsync(Func<HttpContext, Task> handler, string address = "127.0.0.1")
    {
        FaultServer? server = null;
        (WebApplication app, Uri baseAddress) = await KestrelHost.StartAsync(
            new IPEndPoint(IPAddress.Parse(address), 0),
            app =>
            {
                app.Use(async (context, next) =>
                {
                    server!.Requests.Enqueue(new RecordedRequest(
                        context.Request.Method,
                        context.Request.Path.Value ?? string.Empty,
                        context.Request.Headers.Range.ToString(),
                        context.Request.Headers.Authorization.ToString())
                    {
                        Scopes = [.. context.Request.Query["scope"].OfType<string>()],
                    });
                    await next(context);
                });
                app.Run(new RequestDelegate(handler));
            });
        server = new FaultServer(app, baseAddress);
        return server;
    }

    /// <summary>Answers like a correct registry over <paramref name="content"/>: 206 with Content-Range for a Range, else 200.</summary>
    public static async Task ServeRangeAsync(HttpContext context, byte[] content)
    {
        string range = context.Request.Headers.Range.ToString();
        long start = 0, end = content.Length - 1;
        if (range.StartsWith("bytes=", StringComparison.Ordinal))
        {
            string[] parts = range[6..].Split('-');
            start = long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            end = Math.Min(long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), content.Length - 1);
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {start}-{end}/{content.Length}";
        }

        context.Response.ContentLength = end - start + 1;
        await context.Response.Body.WriteAsync(content.AsMemory((int)start, (int)(end - start + 1)));
    }

    public int CountRequests(string pathContains) => Requests.Count(r => r.Path.Contains(pathContains, StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record RecordedRequest(string Method, string Path, string Range, string Authorization)
{
    /// <summary>The <c>scope</c> parameters of the query (a token request's), in order.</summary>
    public string[] Scopes { get; init; } = [];
}
