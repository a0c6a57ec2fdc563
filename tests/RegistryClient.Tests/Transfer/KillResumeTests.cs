using System.Globalization;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// SIGKILL the real regc at seeded points of a pull (during the manifest, during chunksums, mid-chunk, after the
/// last chunk and before the rename, before the manifest, with the last chunk landed first), audit the store after
/// every kill, then pull again: the blob is right and no more than the remainder plus one chunk per stream is fetched.
/// </summary>
public sealed class KillResumeTests : IAsyncLifetime
{
    private const long LayerSize = 96L << 20;
    private const long ChunkSize = 4L << 20;
    private const int Streams = 4;

    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private Descriptor _layer = null!;
    private long _modelSize;
    private KillSwitchRegistry _registry = null!;

    public async ValueTask InitializeAsync()
    {
        _source = new ModelStore(_temp.Combine("source"));
        byte[] manifest = await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/library/big:latest"), [LayerSize, 4096, 7], seed: 31);
        _layer = Manifest.Parse(manifest).Layers[0];
        _modelSize = Manifest.Parse(manifest).TotalSize;
        _registry = await KillSwitchRegistry.StartAsync(_source, ChunkSize);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    private string Name => $"http://{_registry.HostAndPort}/library/big:latest";

    private RegcRun StartPull(ModelStore target, string? crashAt = null) => RegcProcess.Start(
        crashAt is null ? null : new Dictionary<string, string> { ["REGC_TEST_CRASH_AT"] = crashAt },
        "pull", Name, "--models", target.Root, "--concurrency", Streams.ToString(CultureInfo.InvariantCulture));

    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (int seed = 1; seed <= 24; seed++)
        {
            seeds.Add(seed);
        }

        return seeds;
    }

    /// <summary>The kill scenarios, cycled through by seed; byte offsets are drawn from the seed.</summary>
    private static readonly string[] Scenarios =
    [
        "bytes", "manifest", "chunksums", "bytes", "crash:after-chunksums", "crash:after-flush", "bytes",
        "crash:before-commit", "crash:before-manifest", "last-chunk-first", "bytes", "bytes",
    ];

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Pull_KilledAtASeededPoint_ResumesToACorrectStore(int seed)
    {
        var random = new Random(seed);
        string scenario = Scenarios[(seed - 1) % Scenarios.Length];
        var target = new ModelStore(_temp.Combine($"target-{seed}"));
        _registry.ResetCount();

        using (RegcRun first = StartPull(target, scenario.StartsWith("crash:", StringComparison.Ordinal) ? scenario[6..] : null))
        {
            _registry.Victim = first.Process;
            switch (scenario)
            {
                case "bytes":
                    _registry.KillAtBlobBytes = random.NextInt64(1, LayerSize);
                    break;
                case "manifest":
                    _registry.KillOnRequest = "/manifests/";
                    break;
                case "chunksums":
                    _registry.KillOnRequest = "/chunksums/";
                    break;
                case "last-chunk-first":
                    // Chunk 0 never comes; every other chunk lands (so the partial reaches full size), then the kill.
                    _registry.HoldRange = $"bytes=0-{ChunkSize - 1}";
                    break;
            }

            if (scenario == "last-chunk-first")
            {
                int others = (int)(LayerSize / ChunkSize) - 1;
                while (_registry.CompletedRanges.Count(r => r != "bytes=0-0") < others && !first.Process.HasExited)
                {
                    await Task.Delay(20, TestContext.Current.CancellationToken);
                }

                await Task.Delay(600, TestContext.Current.CancellationToken); // let the marker record them
                _registry.Kill();
            }

            (int exit, _, string stderr) = await first.WaitAsync();
            Assert.True(exit != 0, $"seed {seed} ({scenario}): the first pull was meant to die, but exited {exit}: {stderr}");
        }

        long servedBeforeKill = _registry.BlobBytes;
        _registry.Victim = null;
        _registry.KillAtBlobBytes = null;
        _registry.KillOnRequest = null;
        _registry.HoldRange = null;

        // After the kill: every blob present hashes to its name, and no manifest names a missing blob.
        StoreAuditor.AssertConsistent(target);
        if (target.GetBlobSize(_layer.Digest) is null)
        {
            StoreAuditor.AssertNoManifests(target);
        }

        _registry.ResetCount();
        using (RegcRun second = StartPull(target))
        {
            (int exit, string stdout, string stderr) = await second.WaitAsync();
            Assert.True(exit == 0, $"seed {seed} ({scenario}): the resumed pull failed: {stderr}{stdout}");
        }

        StoreAuditor.AssertConsistent(target);
        Assert.Single(target.ListManifests());
        Assert.Equal(LayerSize, target.GetBlobSize(_layer.Digest));
        Assert.Empty(Directory.GetFiles(target.PartialDirectory, "*.partial"));
        long refetched = _registry.BlobBytes;
        // The remainder, one chunk per stream, and the small blobs (each fetched whole; one that landed just before the
        // kill is fetched again, having no chunk digests to re-check it by).
        long small = _modelSize - LayerSize;
        long bound = Math.Max(0, _modelSize - servedBeforeKill) + (Streams * ChunkSize) + small;
        Assert.True(refetched <= bound, $"seed {seed} ({scenario}): {refetched} bytes fetched again after {servedBeforeKill} were sent; bound {bound}");
        if (scenario == "last-chunk-first")
        {
            // The partial was full-size when killed; only the missing chunk 0 (plus the small blobs) was fetched.
            Assert.True(refetched <= ChunkSize + small, $"seed {seed}: {refetched} bytes fetched after the last chunks had landed");
        }
    }
}
