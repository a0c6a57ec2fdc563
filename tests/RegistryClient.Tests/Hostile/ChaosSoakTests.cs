using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Hostile;

/// <summary>
/// Chaos soak: a 1 GiB model pulled through the chunk path (64 chunks of 16 MiB, 8 streams) while 5% of all
/// requests meet a random transient fault (reset mid-body, stall after headers or after part of the body, 503 with
/// or without Retry-After, one flipped byte, a wrong Content-Range, a short body). Many seeds; every pull must end
/// in a correct store, with zero corrupt blobs.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class ChaosSoakTests : IAsyncLifetime
{
    private const long LayerSize = 1L << 30;
    private const double FaultRate = 0.05;

    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private Manifest _manifest = null!;
    private HostileRegistry _registry = null!;

    public async ValueTask InitializeAsync()
    {
        _source = new ModelStore(_temp.Combine("source"));
        _manifest = Manifest.Parse(await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/library/soak:latest"), [LayerSize, 4096], seed: 9));
        _registry = await HostileRegistry.StartAsync(_source, 16L << 20);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task Pull_WithRandomFaultsOn5PercentOfRequests_EndsInACorrectStore(int seed)
    {
        var random = new Random(seed);
        int requests = 0, faults = 0;
        _registry.Reset();
        _registry.Fault = async (context, request) =>
        {
            int kind;
            lock (random)
            {
                requests++;
                if (random.NextDouble() >= FaultRate)
                {
                    return false;
                }

                faults++;
                kind = random.Next(8);
            }

            await InjectAsync(kind, context, request);
            return true;
        };
        var target = new ModelStore(_temp.Combine($"target-{seed}"));
        var puller = new ModelPuller(
            Registries.Create(Registries.FastRetries with { MaxRetries = 10, RequestTimeout = TimeSpan.FromSeconds(2) }),
            target,
            new PullOptions { StallTimeout = TimeSpan.FromSeconds(1) });

        PullResult result = await puller.PullAsync([ModelName.Parse($"http://{_registry.HostAndPort}/library/soak:latest")], cancellationToken: TestContext.Current.CancellationToken);

        _registry.Fault = null;
        TestContext.Current.SendDiagnosticMessage($"seed {seed}: {faults} faults in {requests} requests, {result.BytesFetched} bytes kept");
        Assert.True(faults > 0, "the soak injected no fault");
        StoreAuditor.AssertConsistent(target); // zero corrupt blobs: every file in blobs/ hashes to its name
        Assert.Single(target.ListManifests());
        foreach (Descriptor blob in _manifest.Blobs)
        {
            Assert.Equal(blob.Size, target.GetBlobSize(blob.Digest));
        }

        Directory.Delete(target.Root, recursive: true);
    }

    private async Task InjectAsync(int kind, HttpContext context, HostileRequest request)
    {
        bool blob = request.Kind == "blob";
        Descriptor? descriptor = blob ? _manifest.Blobs.First(b => request.Path.EndsWith(b.Digest.ToString(), StringComparison.Ordinal)) : null;
        switch (kind)
        {
            case 0:
                await HostileFixture.AnswerAsync(context, 503);
                break;
            case 1:
                await HostileFixture.AnswerAsync(context, 503, null, h => h.RetryAfter = "0");
                break;
            case 2:
                context.Abort(); // reset before any answer
                break;
            case 3:
                await HostileFixture.HangAfterHeadersAsync(context, 100);
                break;
            default:
                if (descriptor is null)
                {
                    await HostileFixture.AnswerAsync(context, 502);
                    break;
                }

                await MangleBlobAsync(kind, context, request, descriptor);
                break;
        }
    }

    /// <summary>Blob faults: a flipped byte, a wrong Content-Range, a body cut after half, a stall after half.</summary>
    private async Task MangleBlobAsync(int kind, HttpContext context, HostileRequest request, Descriptor blob)
    {
        (long start, long end) = HostileFixture.RangeOf(request, blob);
        byte[] body = HostileFixture.Read(_source, blob, start, end);

        context.Response.StatusCode = request.Range.Length > 0 ? 206 : 200;
        context.Response.Headers.ContentRange = kind == 5 ? $"bytes {start + 1}-{end + 1}/{blob.Size}" : $"bytes {start}-{end}/{blob.Size}";
        context.Response.ContentLength = body.Length;
        switch (kind)
        {
            case 4:
                body[body.Length / 2] ^= 0x10;
                await context.Response.Body.WriteAsync(body);
                break;
            case 5:
                await context.Response.Body.WriteAsync(body);
                break;
            case 6:
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                await context.Response.Body.FlushAsync();
                context.Abort();
                break;
            default:
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                await context.Response.Body.FlushAsync();
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
                break;
        }
    }
}
