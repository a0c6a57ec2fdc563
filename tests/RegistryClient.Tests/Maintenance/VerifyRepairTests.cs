using System.Text.Json;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Server;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Maintenance;

/// <summary>
/// Issue 5's verify and repair: a flipped byte in a 1 GiB blob pulled from the project's server is named by
/// digest (exit 1); <c>verify --repair</c> fetches about one chunk (counted in the server's access log); verify
/// then passes. Also every kind of finding on a hand-made store laid out the way Ollama writes one.
/// </summary>
public sealed class VerifyRepairTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task FlippedByteIn1GiBBlob_IsNamedAndRepairedByRefetchingOneChunk()
    {
        const long LayerSize = 1L << 30;
        const long ChunkSize = RegistryServerOptions.DefaultChunkSize;
        var source = new ModelStore(_temp.Combine("source"));
        Manifest manifest = Manifest.Parse(await SampleModel.CreateAsync(source, ModelName.Parse("registry.ollama.ai/library/big:latest"), [LayerSize, 5000], seed: 505, cancellationToken: TestContext.Current.CancellationToken));
        Descriptor layer = manifest.Layers[0];
        await using OwnRegistry registry = await OwnRegistry.StartAsync(source);
        var target = new ModelStore(_temp.Combine("target"));
        (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", $"http://{registry.HostAndPort}/library/big:latest", "--models", target.Root);
        Assert.True(exit == 0, stderr);
        Assert.NotEmpty(target.GetChunkSumsFiles(layer.Digest)); // the pull kept the verified chunk digests

        long flipAt = (37 * ChunkSize) + 12_345;
        using (var handle = File.OpenHandle(target.GetBlobPath(layer.Digest), FileMode.Open, FileAccess.ReadWrite))
        {
            byte[] one = new byte[1];
            RandomAccess.Read(handle, one, flipAt);
            one[0] ^= 0xFF;
            RandomAccess.Write(handle, one, flipAt);
        }

        (exit, string stdout, stderr) = await RegcProcess.RunAsync("verify", "--models", target.Root);
        Assert.Equal(1, exit);
        Assert.Contains($"corrupt      {layer.Digest} hashes to", stdout, StringComparison.Ordinal);
        Assert.Contains($"damaged bytes {37 * ChunkSize}-{(38 * ChunkSize) - 1}", stdout, StringComparison.Ordinal);
        Assert.Contains("library/big:latest", stdout, StringComparison.Ordinal);

        string[] before = await registry.SettledLogLinesAsync();
        (exit, stdout, stderr) = await RegcProcess.RunAsync("verify", "--models", target.Root, "--repair", "--insecure");
        Assert.True(exit == 0, stderr + stdout);
        string[] during = (await registry.SettledLogLinesAsync())[before.Length..];
        long refetched = during.Where(l => l.Contains("/blobs/", StringComparison.Ordinal)).Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ChunkSize, refetched); // exactly the damaged chunk
        Assert.Contains("after repair:", stdout, StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(target);
        Assert.Equal(LayerSize, target.GetBlobSize(layer.Digest));

        (exit, stdout, stderr) = await RegcProcess.RunAsync("verify", "--models", target.Root);
        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("no damage", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repair_WhenTheRegistryIsDown_LeavesTheDamagedBlobWhereItWas()
    {
        var source = new ModelStore(_temp.Combine("source"));
        Manifest manifest = Manifest.Parse(await SampleModel.CreateAsync(source, ModelName.Parse("registry.ollama.ai/library/down:latest"), [3_000_000, 500], seed: 606, cancellationToken: TestContext.Current.CancellationToken));
        Descriptor layer = manifest.Layers[0];
        var target = new ModelStore(_temp.Combine("target"));
        await using (OwnRegistry registry = await OwnRegistry.StartAsync(source))
        {
            (int pulled, _, string pullError) = await RegcProcess.RunAsync("pull", $"http://{registry.HostAndPort}/library/down:latest", "--models", target.Root);
            Assert.True(pulled == 0, pullError);
        }

        // The registry is gone now; damage the blob.
        string path = target.GetBlobPath(layer.Digest);
        byte[] damaged = File.ReadAllBytes(path);
        damaged[1_234_567] ^= 0x40;
        File.WriteAllBytes(path, damaged);
        string[] stateBefore = TestModels.Files(target.StateDirectory);

        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("verify", "--models", target.Root, "--repair", "--insecure");

        Assert.Equal(1, exit);
        Assert.Contains("cannot connect to", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(damaged, File.ReadAllBytes(path)); // still in blobs/, byte for byte: the best copy there is
        Assert.Equal(stateBefore, TestModels.Files(target.StateDirectory).Where(f => !f.StartsWith("fingerprints/", StringComparison.Ordinal))); // no partial, no marker
        Assert.Contains($"corrupt      {layer.Digest} hashes to", stdout, StringComparison.Ordinal);

        (exit, stdout, _) = await RegcProcess.RunAsync("verify", "--models", target.Root);
        Assert.Equal(1, exit);
        Assert.Contains($"corrupt      {layer.Digest} hashes to", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OllamaLayoutStore_EveryKindOfFinding_ReportedByDigestWithItsModels()
    {
        // A store as Ollama writes it: blobs/sha256-<hex>, manifests/registry.ollama.ai/library/<model>/<tag>,
        // and an interrupted download's sha256-<hex>-partial and -partial-0 files.
        var store = new ModelStore(_temp.Combine("ollama"));
        byte[] manifestA = await SampleModel.CreateAsync(store, ModelName.Parse("llama3.2"), [300_000, 4_000], seed: 1, cancellationToken: TestContext.Current.CancellationToken);
        byte[] manifestB = await SampleModel.CreateAsync(store, ModelName.Parse("registry.ollama.ai/library/other:7b"), [200_000, 3_000], seed: 2, cancellationToken: TestContext.Current.CancellationToken);
        Manifest a = Manifest.Parse(manifestA);
        Manifest b = Manifest.Parse(manifestB);
        Directory.Delete(store.StateDirectory, recursive: true); // Ollama has no .regc

        File.Delete(store.GetBlobPath(b.Layers[1].Digest)); // missing
        using (var stream = File.OpenWrite(store.GetBlobPath(b.Layers[0].Digest)))
        {
            stream.SetLength(1000); // wrong size
        }

        byte[] bytes = File.ReadAllBytes(store.GetBlobPath(a.Layers[0].Digest));
        bytes[^1] ^= 1;
        File.WriteAllBytes(store.GetBlobPath(a.Layers[0].Digest), bytes); // corrupt
        Digest orphan = Digest.Compute("orphan"u8);
        File.WriteAllText(store.GetBlobPath(orphan), "orphan");
        Digest pending = Digest.Compute("pending"u8);
        File.WriteAllText(Path.Combine(store.BlobsDirectory, pending.FileName + "-partial"), "pen");
        File.WriteAllText(Path.Combine(store.BlobsDirectory, pending.FileName + "-partial-0"), "{}");
        File.WriteAllText(Path.Combine(store.BlobsDirectory, "notes.txt"), "stray");
        string badManifest = store.GetManifestPath(ModelName.Parse("broken:latest"));
        Directory.CreateDirectory(Path.GetDirectoryName(badManifest)!);
        File.WriteAllText(badManifest, "{ not json");

        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("verify", "--models", store.Root, "--json");
        Assert.True(exit == 1, stderr);
        using JsonDocument report = JsonDocument.Parse(stdout);
        JsonElement root = report.RootElement;
        Assert.False(root.GetProperty("healthy").GetBoolean());
        Assert.Equal(3, root.GetProperty("manifests").GetInt32());
        var findings = root.GetProperty("findings").EnumerateArray()
            .Select(f => (Kind: f.GetProperty("kind").GetString()!, Digest: f.GetProperty("digest").GetString(), Models: string.Join(",", f.GetProperty("models").EnumerateArray().Select(m => m.GetString()))))
            .ToList();

        Assert.Contains(("corrupt", a.Layers[0].Digest.ToString(), "registry.ollama.ai/library/llama3.2:latest"), findings);
        Assert.Contains(("wrong-size", b.Layers[0].Digest.ToString(), "registry.ollama.ai/library/other:7b"), findings);
        Assert.Contains(("missing", b.Layers[1].Digest.ToString(), "registry.ollama.ai/library/other:7b"), findings);
        Assert.Contains(("orphaned", orphan.ToString(), string.Empty), findings);
        Assert.Equal(2, findings.Count(f => f.Kind == "partial" && f.Digest == pending.ToString()));
        Assert.Contains(findings, f => f.Kind == "stray");
        Assert.Contains(findings, f => f.Kind == "bad-manifest");
        Assert.Equal(7 + 1, findings.Count); // the two partial files count as two findings
        Assert.All(findings.Take(4), f => Assert.Contains(f.Kind, new[] { "corrupt", "wrong-size", "missing", "bad-manifest" })); // damage first
        // verify wrote nothing but the fingerprints of the blobs SHA-256 proved (all but the corrupt and the wrong-size one)
        Assert.Equal(
            Directory.GetFiles(store.BlobsDirectory, "sha256-*").Select(Path.GetFileName)
                .Where(n => n!.Length == 71 && n != a.Layers[0].Digest.FileName && n != b.Layers[0].Digest.FileName)
                .Select(n => "fingerprints/" + n).Order(StringComparer.Ordinal),
            TestModels.Files(store.StateDirectory));
    }
}
