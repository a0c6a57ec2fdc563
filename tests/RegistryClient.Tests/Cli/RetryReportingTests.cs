using System.Text.Json;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Cli;

/// <summary>
/// What a user sees while regc retries: one plain line per episode of retries (not per attempt), a JSON status object
/// per retry, and with --verbose the real debug log (each request, its status and range, retries, redirects without
/// their query strings).
/// </summary>
public sealed class RetryReportingTests : IAsyncLifetime
{
    private const long LayerSize = 40L << 20;

    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private Manifest _manifest = null!;
    private OwnRegistry _registry = null!;

    public async ValueTask InitializeAsync()
    {
        _source = new ModelStore(_temp.Combine("source"));
        _manifest = Manifest.Parse(await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/library/retry:latest"), [LayerSize, 3_000], seed: 31));
        _registry = await OwnRegistry.StartAsync(_source);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task PlainOutput_PrintsOneLinePerRetryEpisode_NotPerAttempt()
    {
        await using var link = new FlakyLink(_registry.HostAndPort, LinkFault.Reset, 2 << 20);

        var (exit, stdout, stderr) = await RegcProcess.RunAsync(
            "pull", $"http://{link.HostAndPort}/library/retry:latest", "--models", _temp.Combine("plain"), "--retry-wait", "0.05");

        Assert.True(exit == 0, stderr);
        string big = _manifest.Layers[0].Digest.Short;
        string[] retryLines = stdout.Split('\n').Where(l => l.Contains("% kept)", StringComparison.Ordinal)).ToArray();
        Assert.True(link.Connections >= LayerSize / (2 << 20), $"{link.Connections} connections");
        Assert.NotEmpty(retryLines);
        Assert.True(retryLines.Length <= 3, string.Join('\n', retryLines)); // one episode per blob at most in a short pull
        Assert.Contains(retryLines, l => l.StartsWith($"pulling {big}: connection", StringComparison.Ordinal) && l.Contains("% kept)", StringComparison.Ordinal));
        StoreAuditor.AssertConsistent(new ModelStore(_temp.Combine("plain")));
    }

    [Fact]
    public async Task JsonOutput_EmitsARetryingStatusObject()
    {
        await using var link = new FlakyLink(_registry.HostAndPort, LinkFault.Reset, 2 << 20);

        var (exit, stdout, stderr) = await RegcProcess.RunAsync(
            "pull", $"http://{link.HostAndPort}/library/retry:latest", "--models", _temp.Combine("json"), "--retry-wait", "0.05", "--json");

        Assert.True(exit == 0, stderr);
        JsonElement[] retrying = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("status").GetString() == "retrying")
            .ToArray();
        Assert.NotEmpty(retrying);
        JsonElement first = retrying[0];
        Assert.Equal(_manifest.Layers[0].Digest.ToString(), first.GetProperty("digest").GetString());
        Assert.StartsWith("connection", first.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.True(first.GetProperty("attempt").GetInt32() >= 1);
        Assert.True(first.GetProperty("retry_in_seconds").GetDouble() >= 0);
        Assert.Equal(LayerSize, first.GetProperty("total").GetInt64());
        Assert.Equal("success", JsonDocument.Parse(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Verbose_LogsRequestsStatusesRangesRetriesAndRedirectsWithoutQueryStrings()
    {
        await using var link = new FlakyLink(_registry.HostAndPort, LinkFault.Reset, 4 << 20);
        string layer = _manifest.Layers[0].Digest.ToString();
        byte[] layerBytes = await File.ReadAllBytesAsync(_source.GetBlobPath(_manifest.Layers[0].Digest), TestContext.Current.CancellationToken);

        // Blobs redirect to a signed storage URL on the same server, which serves them through the flaky link's registry.
        await using FaultServer front = await FaultServer.StartAsync(async context =>
        {
            string path = context.Request.Path.Value!;
            if (path.StartsWith("/storage/", StringComparison.Ordinal))
            {
                await FaultServer.ServeRangeAsync(context, layerBytes);
            }
            else if (path.EndsWith(layer, StringComparison.Ordinal))
            {
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = $"/storage/{layer}?X-Signature=s3cr3t";
            }
            else
            {
                using var client = new HttpClient();
                using HttpResponseMessage upstream = await client.GetAsync(new Uri(_registry.BaseAddress, path));
                context.Response.StatusCode = (int)upstream.StatusCode;
                context.Response.ContentType = upstream.Content.Headers.ContentType?.ToString();
                await context.Response.Body.WriteAsync(await upstream.Content.ReadAsByteArrayAsync());
            }
        });

        var (exit, _, stderr) = await RegcProcess.RunAsync(
            "pull", $"http://{front.HostAndPort}/library/retry:latest", "--models", _temp.Combine("verbose"), "--verbose");

        Assert.True(exit == 0, stderr);
        Assert.Contains($"GET http://{front.HostAndPort}/v2/library/retry/manifests/latest", stderr, StringComparison.Ordinal);
        Assert.Contains("200 for GET", stderr, StringComparison.Ordinal);
        Assert.Contains("range=bytes=0-", stderr, StringComparison.Ordinal);
        Assert.Contains("content-range=bytes 0-", stderr, StringComparison.Ordinal);
        Assert.Contains($"307 redirect from http://{front.HostAndPort}/v2/library/retry/blobs/{layer} to http://{front.HostAndPort}/storage/{layer}", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Signature", stderr, StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(new ModelStore(_temp.Combine("verbose")));

        // Retries are logged too: the same pull over a link that resets every 4 MiB.
        (exit, _, stderr) = await RegcProcess.RunAsync(
            "pull", $"http://{link.HostAndPort}/library/retry:latest", "--models", _temp.Combine("verbose-retry"), "--verbose", "--retry-wait", "0.05");
        Assert.True(exit == 0, stderr);
        Assert.Contains("retry in ", stderr, StringComparison.Ordinal);
        Assert.Contains("since the last progress) after: connection", stderr, StringComparison.Ordinal);
    }
}
