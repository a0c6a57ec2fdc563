using System.Text;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>Bad input from a registry: each case ends in a clear error, nothing committed, nothing outside the store.</summary>
public sealed class PullFaultTests : IDisposable
{
    private const long LayerSize = 300_000;

    private readonly TempDirectory _temp = new();
    private readonly ModelStore _target;
    private readonly string _sentinel;
    private readonly byte[] _layer = new byte[LayerSize];

    public PullFaultTests()
    {
        _target = new ModelStore(_temp.Combine("store"));
        _sentinel = StoreAuditor.CreateSentinel(_temp.Path);
        SampleDataStream.Fill(11, 0, _layer);
    }

    public void Dispose() => _temp.Dispose();

    private Descriptor LayerDescriptor(long? size = null) => new(MediaTypes.OllamaModel, Digest.Compute(_layer), size ?? LayerSize);

    private static readonly byte[] s_config = "{}"u8.ToArray();

    private byte[] ManifestFor(Descriptor layer) =>
        SampleModel.BuildManifest(new Descriptor(MediaTypes.DockerConfig, Digest.Compute(s_config), s_config.Length), [layer]);

    /// <summary>Serves a manifest and blobs: the config, and the layer through <paramref name="blob"/>.</summary>
    private static Task<FaultServer> ServeAsync(Func<HttpContext, Task> manifest, Func<HttpContext, Task> blob) =>
        FaultServer.StartAsync(async context =>
        {
            string path = context.Request.Path.Value!;
            if (path.EndsWith(Digest.Compute(s_config).ToString(), StringComparison.Ordinal))
            {
                await context.Response.Body.WriteAsync(s_config);
            }
            else if (path.Contains("/blobs/", StringComparison.Ordinal))
            {
                await blob(context);
            }
            else
            {
                await manifest(context);
            }
        });

    private static Func<HttpContext, Task> Bytes(byte[] body, string? contentDigest = null) => async context =>
    {
        if (contentDigest is not null)
        {
            context.Response.Headers["Docker-Content-Digest"] = contentDigest;
        }

        context.Response.ContentType = MediaTypes.DockerManifest;
        await context.Response.Body.WriteAsync(body);
    };

    /// <summary>A correct ranged server over whatever bytes it is given.</summary>
    private static Func<HttpContext, Task> RangedBlob(byte[] content) => context => FaultServer.ServeRangeAsync(context, content);

    private async Task<Exception> PullExpectingFailureAsync(FaultServer server)
    {
        var puller = new ModelPuller(Registries.Create(), _target, new PullOptions { StallTimeout = TimeSpan.FromSeconds(5) });
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => puller.PullAsync([ModelName.Parse($"http://{server.HostAndPort}/library/m:latest")], cancellationToken: TestContext.Current.CancellationToken));
        Assert.DoesNotContain('\n', error.Message);
        StoreAuditor.AssertNoManifests(_target);
        StoreAuditor.AssertConsistent(_target);
        StoreAuditor.AssertSentinelUntouched(_sentinel);
        Assert.Null(_target.GetBlobSize(LayerDescriptor().Digest));
        return error;
    }

    [Fact]
    public async Task Pull_WrongBytes_IsADigestMismatchAndNothingIsStored()
    {
        byte[] wrong = (byte[])_layer.Clone();
        wrong[LayerSize / 2] ^= 0xFF;
        await using FaultServer server = await ServeAsync(Bytes(ManifestFor(LayerDescriptor())), RangedBlob(wrong));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<DigestMismatchException>(error);
        Assert.Contains(LayerDescriptor().Digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Empty(_target.GetPartialFiles(LayerDescriptor().Digest)); // a partial known to be bad is removed, with its marker
    }

    [Fact]
    public async Task Pull_DescriptorLargerThanTheBlob_FailsOnTheContentRange()
    {
        await using FaultServer server = await ServeAsync(Bytes(ManifestFor(LayerDescriptor(LayerSize + 10))), RangedBlob(_layer));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<RegistryProtocolException>(error);
        Assert.Contains("Content-Range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_DescriptorSmallerThanTheBlob_FailsFastOnTheTotalSize()
    {
        await using FaultServer server = await ServeAsync(Bytes(ManifestFor(LayerDescriptor(LayerSize - 10))), RangedBlob(_layer));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<RegistryProtocolException>(error);
        Assert.Contains($"has {LayerSize} bytes", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.CountRequests(LayerDescriptor().Digest.ToString()));
    }

    [Fact]
    public async Task Pull_SameSizeOtherContent_IsADigestMismatch()
    {
        byte[] other = new byte[LayerSize];
        SampleDataStream.Fill(12, 0, other);
        await using FaultServer server = await ServeAsync(Bytes(ManifestFor(LayerDescriptor())), RangedBlob(other));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<DigestMismatchException>(error);
        Assert.Contains(Digest.Compute(other).ToString(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_BodyShorterThanAnnounced_FailsAfterBoundedRetries()
    {
        await using FaultServer server = await ServeAsync(Bytes(ManifestFor(LayerDescriptor())), async context =>
        {
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes 0-{LayerSize - 1}/{LayerSize}";
            context.Response.ContentLength = LayerSize;
            await context.Response.Body.WriteAsync(_layer.AsMemory(0, 1000));
            await context.Response.Body.FlushAsync();
            context.Abort();
        });

        Exception error = await PullExpectingFailureAsync(server);

        Assert.True(error is IOException or HttpRequestException, error.GetType().Name + ": " + error.Message);
        Assert.Equal(1 + Registries.FastRetries.MaxRetries, server.CountRequests(LayerDescriptor().Digest.ToString()));
    }

    [Fact]
    public async Task Pull_OversizedManifest_IsRefusedAfterTheLimit()
    {
        byte[] huge = Encoding.ASCII.GetBytes("{\"pad\":\"" + new string('x', (4 << 20) + 16) + "\"}");
        await using FaultServer server = await ServeAsync(
            async context =>
            {
                // No Content-Length: the limit must hold while streaming.
                for (int offset = 0; offset < huge.Length; offset += 65536)
                {
                    await context.Response.Body.WriteAsync(huge.AsMemory(offset, Math.Min(65536, huge.Length - offset)));
                }
            },
            RangedBlob(_layer));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<InvalidManifestException>(error);
        Assert.Contains("4 MiB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_AnnouncedHugeManifest_IsRefusedBeforeReading()
    {
        await using FaultServer server = await ServeAsync(
            async context =>
            {
                // Announce a terabyte, send one byte, then hold the connection until the client hangs up.
                context.Response.ContentLength = 1L << 40;
                await context.Response.Body.WriteAsync("{"u8.ToArray());
                await context.Response.Body.FlushAsync();
                await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            },
            RangedBlob(_layer));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<InvalidManifestException>(error);
        Assert.Contains("1099511627776 bytes", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sha256:../../../../etc/passwd")]
    [InlineData("sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/../../x")]
    [InlineData("sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("/etc/passwd")]
    public async Task Pull_TraversalDigestInManifest_IsRejectedBeforeAnyBlobRequest(string digest)
    {
        string manifest = $"{{\"schemaVersion\":2,\"config\":{{\"digest\":\"{Digest.Compute(s_config)}\",\"size\":2}},\"layers\":[{{\"digest\":\"{digest}\",\"size\":5}}]}}";
        await using FaultServer server = await ServeAsync(Bytes(Encoding.UTF8.GetBytes(manifest)), RangedBlob(_layer));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<InvalidManifestException>(error);
        Assert.Equal(0, server.CountRequests("/blobs/"));
        Assert.False(Directory.Exists(_target.PartialDirectory) && Directory.EnumerateFileSystemEntries(_target.PartialDirectory).Any());
    }

    [Fact]
    public async Task Pull_LyingDockerContentDigest_IsRejected()
    {
        byte[] manifest = ManifestFor(LayerDescriptor());
        await using FaultServer server = await ServeAsync(Bytes(manifest, Digest.Compute("other"u8).ToString()), RangedBlob(_layer));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.IsType<DigestMismatchException>(error);
        Assert.Equal(0, server.CountRequests("/blobs/"));
    }

    [Fact]
    public async Task Pull_UnknownModel_IsModelNotFoundNamingTheModel()
    {
        await using FaultServer server = await ServeAsync(
            async context =>
            {
                context.Response.StatusCode = 404;
                await context.Response.WriteAsync("{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}");
            },
            RangedBlob(_layer));

        Exception error = await PullExpectingFailureAsync(server);

        var notFound = Assert.IsType<ModelNotFoundException>(error);
        Assert.Contains("library/m:latest", notFound.Message, StringComparison.Ordinal);
        Assert.Contains("MANIFEST_UNKNOWN", notFound.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_ServerErrors_AreRetriedThenReported()
    {
        int calls = 0;
        byte[] manifest = ManifestFor(LayerDescriptor());
        await using FaultServer server = await ServeAsync(
            async context =>
            {
                if (Interlocked.Increment(ref calls) <= 2)
                {
                    context.Response.StatusCode = 503;
                    return;
                }

                await context.Response.Body.WriteAsync(manifest);
            },
            RangedBlob(_layer));
        var puller = new ModelPuller(Registries.Create(), _target);

        await puller.PullAsync([ModelName.Parse($"http://{server.HostAndPort}/library/m:latest")], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(3, calls);
        StoreAuditor.AssertConsistent(_target);
        Assert.Single(_target.ListManifests());
    }
}
