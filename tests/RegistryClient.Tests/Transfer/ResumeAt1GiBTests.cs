using System.Globalization;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Server;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// A 1 GiB blob from the project's server through the chunk path: killed at half, then resumed; and pulled by two
/// processes at once into one store, with file locks working and with file locks disabled (as on NFS or Lustre,
/// where a lock can silently do nothing).
/// </summary>
public sealed class ResumeAt1GiBTests : IAsyncLifetime
{
    private const long LayerSize = 1L << 30;
    private const long ChunkSize = RegistryServerOptions.DefaultChunkSize;
    private const int Streams = 8;

    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private Descriptor _layer = null!;
    private long _modelSize;
    private KillSwitchRegistry _registry = null!;

    public async ValueTask InitializeAsync()
    {
        _source = new ModelStore(_temp.Combine("source"));
        byte[] manifest = await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/library/huge:latest"), [LayerSize, 300], seed: 77);
        _layer = Manifest.Parse(manifest).Layers[0];
        _modelSize = Manifest.Parse(manifest).TotalSize;
        _registry = await KillSwitchRegistry.StartAsync(_source, ChunkSize);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    private RegcRun StartPull(ModelStore target, IReadOnlyDictionary<string, string>? environment = null) => RegcProcess.Start(
        environment, "pull", $"http://{_registry.HostAndPort}/library/huge:latest", "--models", target.Root, "--concurrency", Streams.ToString(CultureInfo.InvariantCulture));

    [Fact]
    public async Task Pull_KilledAtHalf_FetchesOnlyTheRemainderPlusOneChunkPerStream()
    {
        var target = new ModelStore(_temp.Combine("target"));
        _registry.KillAtBlobBytes = LayerSize / 2;
        using (RegcRun first = StartPull(target))
        {
            _registry.Victim = first.Process;
            (int exit, _, _) = await first.WaitAsync();
            Assert.NotEqual(0, exit);
        }

        long servedBeforeKill = _registry.BlobBytes;
        Assert.InRange(servedBeforeKill, LayerSize / 2, LayerSize - 1);
        StoreAuditor.AssertConsistent(target);
        StoreAuditor.AssertNoManifests(target);
        _registry.KillAtBlobBytes = null;
        _registry.Victim = null;
        _registry.ResetCount();

        string stdout;
        using (RegcRun second = StartPull(target))
        {
            (int exit, stdout, string stderr) = await second.WaitAsync();
            Assert.True(exit == 0, stderr);
        }

        long refetched = _registry.BlobBytes;
        // The remainder, one chunk per stream, and the two small blobs (fetched whole, so one that landed just
        // before the kill without being committed is fetched again).
        long bound = _modelSize - servedBeforeKill + (Streams * ChunkSize) + (_modelSize - LayerSize);
        Assert.True(refetched <= bound, $"{refetched} bytes fetched again after {servedBeforeKill} were sent; bound {bound}");
        Assert.Contains("resumed from an earlier pull", stdout, StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(target);
        Assert.Equal(LayerSize, target.GetBlobSize(_layer.Digest));
        Assert.Single(target.ListManifests());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pull_TwoProcessesAtOnce_BothSucceed(bool locksDisabled)
    {
        var target = new ModelStore(_temp.Combine($"shared-{locksDisabled}"));
        Dictionary<string, string>? environment = locksDisabled ? new() { ["DOTNET_SYSTEM_IO_DISABLEFILELOCKING"] = "1" } : null;
        _registry.ResetCount();

        using RegcRun a = StartPull(target, environment);
        using RegcRun b = StartPull(target, environment);
        (int exitA, string outA, string errA) = await a.WaitAsync();
        (int exitB, string outB, string errB) = await b.WaitAsync();

        Assert.True(exitA == 0, errA + outA);
        Assert.True(exitB == 0, errB + outB);
        StoreAuditor.AssertConsistent(target);
        Assert.Equal(LayerSize, target.GetBlobSize(_layer.Digest));
        Assert.Single(target.ListManifests());
        Assert.Empty(Directory.GetFiles(target.PartialDirectory, "*.partial"));

        // The second process waits for the first (its partial's owner is alive), so the blob comes about once.
        long served = _registry.BlobBytes;
        Assert.True(served <= LayerSize + (Streams * ChunkSize), $"{served} bytes served for two pulls of a {LayerSize}-byte blob");
    }
}
