using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// Resume in-process: a cancelled pull leaves its partial and marker; the next pull keeps what is verified, checks
/// what the marker claims, and re-checks everything against the chunk digests when the marker is missing or stale.
/// </summary>
public sealed class ResumeTests : IAsyncLifetime
{
    private const long LayerSize = 64L << 20;
    private const long ChunkSize = 1L << 20;

    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private Descriptor _layer = null!;
    private byte[] _manifest = null!;

    public async ValueTask InitializeAsync()
    {
        _source = new ModelStore(_temp.Combine("source"));
        _manifest = await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/library/r:latest"), [LayerSize, 10], seed: 5);
        _layer = Manifest.Parse(_manifest).Layers[0];
    }

    public ValueTask DisposeAsync()
    {
        _temp.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Chunk digests checked on arrival or left for the end (both pulls of a test alike); null picks by CPU.</summary>
    private bool? _onArrival;

    private PullOptions Options(bool chunkSums = true) => new()
    {
        Concurrency = 4,
        RangeSize = ChunkSize,
        ParallelThreshold = ChunkSize,
        ChunkSumsThreshold = chunkSums ? 1 << 20 : long.MaxValue,
        VerifyChunksOnArrival = _onArrival,
    };

    private static ModelName Name(string hostAndPort) => ModelName.Parse($"http://{hostAndPort}/library/r:latest");

    /// <summary>
    /// Pulls until about half the layer is in, then cancels, as Ctrl-C would (at 32 MiB/s, so that progress, reported
    /// ten times a second, sees the half pass).
    /// </summary>
    private Task<ModelStore> PullHalfAsync(OwnRegistry server, bool chunkSums = true) => PullHalfAsync(server.HostAndPort, chunkSums);

    private async Task<ModelStore> PullHalfAsync(string server, bool chunkSums = true)
    {
        var target = new ModelStore(_temp.Combine("target"));
        using var cancel = new CancellationTokenSource();
        var progress = new SynchronousProgress<PullProgress>(p =>
        {
            if (p.Digest == _layer.Digest && p.Completed > LayerSize / 2)
            {
                cancel.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new ModelPuller(Registries.Create(), target, Options(chunkSums) with { LimitRate = 32L << 20 }).PullAsync([Name(server)], progress, cancel.Token));
        Assert.Null(target.GetBlobSize(_layer.Digest));
        Assert.Single(target.GetPartialFiles(_layer.Digest), f => f.EndsWith(".marker", StringComparison.Ordinal));
        return target;
    }

    private Task<PullResult> PullAsync(OwnRegistry server, ModelStore target, bool chunkSums = true) => PullAsync(server.HostAndPort, target, chunkSums);

    private async Task<PullResult> PullAsync(string server, ModelStore target, bool chunkSums = true)
    {
        PullResult result = await new ModelPuller(Registries.Create(), target, Options(chunkSums: chunkSums)).PullAsync([Name(server)], cancellationToken: TestContext.Current.CancellationToken);
        StoreAuditor.AssertConsistent(target);
        Assert.Equal(LayerSize, target.GetBlobSize(_layer.Digest));
        Assert.Empty(target.GetPartialFiles(_layer.Digest));
        return result;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Resume_AfterCancel_KeepsVerifiedChunksAndReportsThemAsReused(bool onArrival)
    {
        _onArrival = onArrival;
        await using OwnRegistry server = await OwnRegistry.StartAsync(_source, ChunkSize);
        ModelStore target = await PullHalfAsync(server);
        await server.SettledLogLinesAsync(); // the cancelled requests' lines come in after their connections close
        long servedBefore = server.BytesServed("/blobs/" + _layer.Digest);

        PullResult result = await PullAsync(server, target);

        Assert.True(result.BytesResumed >= LayerSize / 4, $"only {result.BytesResumed} bytes resumed");
        Assert.Equal(LayerSize, result.BytesResumed + result.BytesFetched); // the small blobs were committed before the cancel
        await server.SettledLogLinesAsync();
        long servedAfter = server.BytesServed("/blobs/" + _layer.Digest) - servedBefore;
        Assert.Equal(LayerSize - result.BytesResumed, servedAfter);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Resume_DamagedBytesInAMarkedChunk_RefetchesThatChunkOnly(bool onArrival)
    {
        _onArrival = onArrival;
        await using KillSwitchRegistry server = await KillSwitchRegistry.StartAsync(_source, ChunkSize);
        ModelStore target = await PullHalfAsync(server.HostAndPort);
        string marker = Assert.Single(target.GetPartialFiles(_layer.Digest), f => f.EndsWith(".marker", StringComparison.Ordinal));
        Assert.Equal(1, File.ReadAllBytes(marker)[ResumeMarker.HeaderSize]); // chunk 0 is recorded as durable
        string partial = Assert.Single(target.GetPartialFiles(_layer.Digest), f => f.EndsWith(".partial", StringComparison.Ordinal));
        byte original = File.ReadAllBytes(partial)[100];
        await using (FileStream file = File.OpenWrite(partial))
        {
            file.Position = 100;
            file.WriteByte((byte)(original ^ 0x5A));
        }

        PullResult result = await PullAsync(server.HostAndPort, target);

        string chunk0 = $"bytes=0-{ChunkSize - 1}";
        Assert.Equal(2, server.Server.Requests.Count(r => r.Range == chunk0 && r.Path.EndsWith(_layer.Digest.ToString(), StringComparison.Ordinal)));
        Assert.True(result.BytesResumed > 0);
    }

    [Fact]
    public async Task Resume_MarkerMissingOrStale_ReChecksThePartialAgainstTheChunkDigests()
    {
        await using (OwnRegistry server = await OwnRegistry.StartAsync(_source, ChunkSize))
        {
            ModelStore target = await PullHalfAsync(server);
            File.Delete(Assert.Single(target.GetPartialFiles(_layer.Digest), f => f.EndsWith(".marker", StringComparison.Ordinal)));

            PullResult result = await PullAsync(server, target);

            Assert.True(result.BytesResumed >= LayerSize / 4, $"only {result.BytesResumed} bytes re-checked and kept");
        }

        Directory.Delete(_temp.Combine("target"), recursive: true);

        // A registry whose chunk size changed since: the marker is bound to the old list, so it is stale.
        await using (OwnRegistry first = await OwnRegistry.StartAsync(_source, ChunkSize))
        {
            await PullHalfAsync(first);
        }

        await using OwnRegistry changed = await OwnRegistry.StartAsync(_source, 2 * ChunkSize);
        PullResult changedResult = await PullAsync(changed, new ModelStore(_temp.Combine("target")));
        Assert.True(changedResult.BytesResumed >= LayerSize / 8, $"only {changedResult.BytesResumed} bytes kept under the new list");
    }

    [Fact]
    public async Task Resume_WithoutChunkSums_KeepsWrittenRangesAndVerifiesTheWholeBlob()
    {
        await using OwnRegistry server = await OwnRegistry.StartAsync(_source, ChunkSize);
        ModelStore target = await PullHalfAsync(server, chunkSums: false);

        PullResult result = await PullAsync(server, target, chunkSums: false);

        Assert.True(result.BytesResumed >= LayerSize / 4, $"only {result.BytesResumed} bytes resumed");
        Assert.Equal(0, server.LogLines().Count(l => l.Contains("/chunksums/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Resume_DeadOwnersPartial_IsTakenOverByRenameAndAfterwardsOnlyTheNewOwnerIsNamed()
    {
        await using OwnRegistry server = await OwnRegistry.StartAsync(_source, ChunkSize);
        ModelStore target = await PullHalfAsync(server);

        // Rename the partial as if a process that no longer exists had left it.
        string partial = Assert.Single(target.GetPartialFiles(_layer.Digest), f => f.EndsWith(".partial", StringComparison.Ordinal));
        string prefix = Path.Combine(target.PartialDirectory, _layer.Digest.FileName);
        string mine = Path.GetFileName(partial)[(_layer.Digest.FileName.Length + 1)..^".partial".Length];
        const string Dead = "999999-0badc0de";
        foreach (string extension in new[] { "partial", "marker", "owner" })
        {
            File.Move($"{prefix}.{mine}.{extension}", $"{prefix}.{Dead}.{extension}");
        }

        await File.WriteAllTextAsync($"{prefix}.{Dead}.owner", $"regc-owner 1\nhost={Environment.MachineName}\npid=999999\nstart=1\n", TestContext.Current.CancellationToken);

        PullResult result = await PullAsync(server, target);

        Assert.True(result.BytesResumed >= LayerSize / 4);
        Assert.Empty(Directory.GetFiles(target.PartialDirectory, $"*{Dead}*"));
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
