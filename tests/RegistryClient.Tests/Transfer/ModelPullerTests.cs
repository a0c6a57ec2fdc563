using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

public sealed class ModelPullerTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private byte[] _manifest = null!;
    private OwnRegistry _server = null!;

    public async ValueTask InitializeAsync()
    {
        (_source, _manifest) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/three:latest", TestModels.ThreeLayers, seed: 3);
        _server = await OwnRegistry.StartAsync(_source);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    private ModelName Name(string model = "three", string tag = "latest") => ModelName.Parse($"http://{_server.HostAndPort}/library/{model}:{tag}");

    private ModelPuller Puller(ModelStore target, PullOptions? options = null) =>
        new(Registries.Create(), target, options ?? new PullOptions { RangeSize = 8 << 20, ParallelThreshold = 8 << 20, Concurrency = 4 });

    [Fact]
    public async Task PullAsync_ThreeLayerModel_IsByteIdenticalInOllamasLayout()
    {
        var target = new ModelStore(_temp.Combine("target"));
        string sentinel = StoreAuditor.CreateSentinel(_temp.Path);

        PullResult result = await Puller(target).PullAsync([Name()], cancellationToken: TestContext.Current.CancellationToken);

        Manifest manifest = Manifest.Parse(_manifest);
        Assert.Equal(4, result.BlobsFetched);
        Assert.Equal(manifest.TotalSize, result.BytesFetched);
        foreach (Descriptor blob in manifest.Blobs)
        {
            Assert.Equal(await File.ReadAllBytesAsync(_source.GetBlobPath(blob.Digest), TestContext.Current.CancellationToken), await File.ReadAllBytesAsync(target.GetBlobPath(blob.Digest), TestContext.Current.CancellationToken));
        }

        Assert.Equal(_manifest, await File.ReadAllBytesAsync(target.GetManifestPath(Name()), TestContext.Current.CancellationToken));
        string[] expected = manifest.Blobs.Select(b => "blobs/" + b.Digest.FileName)
            .Append($"manifests/{_server.HostAndPort}/library/three/latest").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, TestModels.Files(target.Root).Where(f => !f.StartsWith(".regc/", StringComparison.Ordinal)));
        // Nothing left of the download but the chunk digests of the layer that came through the chunk path.
        Assert.Equal([$"chunksums/{manifest.Layers[0].Digest.FileName}.{16 << 20}"], TestModels.Files(target.StateDirectory));
        StoreAuditor.AssertConsistent(target);
        StoreAuditor.AssertSentinelUntouched(sentinel);
    }

    [Fact]
    public async Task PullAsync_Again_FetchesNoBlob()
    {
        var target = new ModelStore(_temp.Combine("target"));
        await Puller(target).PullAsync([Name()], cancellationToken: TestContext.Current.CancellationToken);
        int blobRequests = (await _server.SettledLogLinesAsync()).Count(l => l.Contains("/blobs/", StringComparison.Ordinal));

        PullResult again = await Puller(target).PullAsync([Name()], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(0, again.BlobsFetched);
        Assert.Equal(4, again.BlobsCached);
        Assert.Equal(blobRequests, (await _server.SettledLogLinesAsync()).Count(l => l.Contains("/blobs/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task PullAsync_SeveralNames_FetchSharedBlobsOnce()
    {
        // A second tag with the same weights (same seed) and one more layer.
        await TestModels.CreateAsync(_source.Root, "registry.ollama.ai/library/three:other", [96L << 20, 2000], seed: 3);
        var target = new ModelStore(_temp.Combine("target"));
        PullResult result = await Puller(target).PullAsync([Name(), Name(tag: "other"), Name()], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(2, result.Models.Count);
        Manifest first = Manifest.Parse(_manifest);
        Descriptor weights = first.Layers[0];
        await _server.SettledLogLinesAsync();
        Assert.Equal(weights.Size, _server.BytesServed("/blobs/" + weights.Digest));
        Assert.True(File.Exists(target.GetManifestPath(Name(tag: "other"))));
        StoreAuditor.AssertConsistent(target);
    }

    [Fact]
    public async Task PullAsync_CancelledBeforeTheCall_WritesNothing()
    {
        var target = new ModelStore(_temp.Combine("target"));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Puller(target).PullAsync([Name()], cancellationToken: cancelled.Token));

        StoreAuditor.AssertNoManifests(target);
        Assert.Empty(TestModels.Files(target.BlobsDirectory));
    }

    [Theory]
    [InlineData(8L << 20, 8)] // all of it taken by the workers' buffers: nothing held, the hash reads every byte back
    [InlineData(16L << 20, 4)] // 8 MiB held at most
    [InlineData(1L << 30, 8)]
    public async Task PullAsync_WithinAnyMemoryLimit_StoresTheSameBytes(long limit, int concurrency)
    {
        var target = new ModelStore(_temp.Combine("target"));
        var options = new PullOptions { RangeSize = 4 << 20, ParallelThreshold = 4 << 20, Concurrency = concurrency, MemoryLimit = limit };

        await Puller(target, options).PullAsync([Name()], cancellationToken: TestContext.Current.CancellationToken);

        foreach (Descriptor layer in Manifest.Parse(_manifest).Layers)
        {
            Assert.Equal(await File.ReadAllBytesAsync(_source.GetBlobPath(layer.Digest), TestContext.Current.CancellationToken), await File.ReadAllBytesAsync(target.GetBlobPath(layer.Digest), TestContext.Current.CancellationToken));
        }

        StoreAuditor.AssertConsistent(target);
    }

    [Fact]
    public void MemoryLimit_IsSharedBetweenWorkersHashAndHeldBytes_AndRefusedBelow8MiB()
    {
        Assert.Equal((48L << 20) - (8L << 20) - (4L << 20), new PullOptions().HeldBytesLimit);
        Assert.Equal(0, new PullOptions { MemoryLimit = 8L << 20, Concurrency = 16 }.HeldBytesLimit);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Puller(new ModelStore(_temp.Combine("t")), new PullOptions { MemoryLimit = (8L << 20) - 1 }));
        Assert.Equal(nameof(PullOptions.MemoryLimit), error.ParamName);
    }

    [Fact]
    public async Task PullAsync_CancelledMidTransfer_StopsWithoutAManifestOrAnUnverifiedBlob()
    {
        var target = new ModelStore(_temp.Combine("target"));
        using var cancel = new CancellationTokenSource();
        var progress = new CallbackProgress(p =>
        {
            if (p.State == TransferState.Running && p.Completed > 16 << 20)
            {
                cancel.Cancel();
            }
        });
        // Paced, so that the pull is still running when the coalesced progress reports 16 MiB.
        var options = new PullOptions { RangeSize = 4 << 20, ParallelThreshold = 4 << 20, Concurrency = 2, LimitRate = 32 << 20 };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Puller(target, options).PullAsync([Name()], progress, cancel.Token));

        StoreAuditor.AssertNoManifests(target);
        Assert.Null(target.GetBlobSize(Manifest.Parse(_manifest).Layers[0].Digest));
        StoreAuditor.AssertConsistent(target);
    }

    [Fact]
    public async Task PullAsync_BlobsRedirectedToAnotherHost_AreFetchedThere()
    {
        await using FaultServer front = await FaultServer.StartAsync(async context =>
        {
            string path = context.Request.Path.Value!;
            if (path.Contains("/blobs/", StringComparison.Ordinal))
            {
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = new Uri(_server.BaseAddress, path.TrimStart('/')).ToString();
                return;
            }

            if (!path.Contains("/manifests/", StringComparison.Ordinal))
            {
                context.Response.StatusCode = 404; // no chunksums: the blobs come by own ranges through the redirect
                return;
            }

            context.Response.ContentType = MediaTypes.DockerManifest;
            await context.Response.Body.WriteAsync(_manifest);
        });
        var target = new ModelStore(_temp.Combine("target"));

        await Puller(target).PullAsync([ModelName.Parse($"http://{front.HostAndPort}/library/three:latest")], cancellationToken: TestContext.Current.CancellationToken);

        Descriptor weights = Manifest.Parse(_manifest).Layers[0];
        await _server.SettledLogLinesAsync();
        Assert.Equal(weights.Size, _server.BytesServed("/blobs/" + weights.Digest));
        Assert.True(front.CountRequests("/blobs/") >= 4);
        StoreAuditor.AssertConsistent(target);
        Assert.Single(target.ListManifests());
    }

    [Fact]
    public async Task PullAsync_RegistryServingWholeBlobsWith200_WorksForSingleRequestBlobs()
    {
        (ModelStore small, byte[] manifest) = await TestModels.CreateAsync(_temp.Combine("small"), "registry.ollama.ai/library/small:latest", [100_000, 10], seed: 9);
        await using FaultServer plain = await FaultServer.StartAsync(async context =>
        {
            string path = context.Request.Path.Value!;
            if (path.Contains("/blobs/", StringComparison.Ordinal))
            {
                // No Range support at all: always the whole blob with 200, like a plain file server.
                await context.Response.Body.WriteAsync(await File.ReadAllBytesAsync(small.GetBlobPath(Digest.Parse(path[(path.LastIndexOf('/') + 1)..]))));
                return;
            }

            await context.Response.Body.WriteAsync(manifest);
        });
        var target = new ModelStore(_temp.Combine("target"));

        await Puller(target).PullAsync([ModelName.Parse($"http://{plain.HostAndPort}/library/small:latest")], cancellationToken: TestContext.Current.CancellationToken);

        StoreAuditor.AssertConsistent(target);
        Assert.Single(target.ListManifests());
    }

    private sealed class CallbackProgress(Action<PullProgress> callback) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => callback(value);
    }
}
