using System.Net.Http.Json;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Cli;

/// <summary>Issue 5's store upkeep through the real regc: show, rm, prune (dry run and for real), and serve's catalog.</summary>
public sealed class StoreCommandsTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private ModelStore _store = null!;
    private Manifest _alpha = null!;
    private Manifest _beta = null!;

    public async ValueTask InitializeAsync()
    {
        _store = new ModelStore(_temp.Combine("store"));
        // Both models are made from one seed: their 777-byte layers are the same blob.
        _alpha = Manifest.Parse(await SampleModel.CreateAsync(_store, ModelName.Parse("alpha"), [300_000, 777], seed: 3, cancellationToken: TestContext.Current.CancellationToken));
        _beta = Manifest.Parse(await SampleModel.CreateAsync(_store, ModelName.Parse("team/beta:7b"), [200_000, 777], seed: 3, cancellationToken: TestContext.Current.CancellationToken));
    }

    public ValueTask DisposeAsync()
    {
        _temp.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Show_ListsConfigAndLayersWithMediaTypesSizesAndPresence()
    {
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("show", "alpha", "--models", _store.Root);
        Assert.True(exit == 0, stderr);
        Assert.Contains("registry.ollama.ai/library/alpha:latest", stdout, StringComparison.Ordinal);
        foreach (Descriptor blob in _alpha.Blobs)
        {
            Assert.Matches($@"{blob.MediaType.Replace(".", @"\.", StringComparison.Ordinal).Replace("+", @"\+", StringComparison.Ordinal)}\s+{blob.Digest}\s+.+yes", stdout);
        }

        (exit, _, stderr) = await RegcProcess.RunAsync("show", "nothing", "--models", _store.Root);
        Assert.Equal(1, exit);
        Assert.StartsWith("error: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rm_RemovesTheManifestAndOnlyTheBlobsNoOtherModelUses()
    {
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("rm", "alpha", "--models", _store.Root);
        Assert.True(exit == 0, stderr);
        Assert.Contains("deleted alpha:latest", stdout, StringComparison.Ordinal);
        Assert.Equal(["team/beta:7b"], _store.ListManifests().Select(m => $"{m.Name.Repository}:{m.Name.Tag}"));
        foreach (Descriptor blob in _alpha.Blobs)
        {
            bool shared = _beta.Blobs.Any(b => b.Digest == blob.Digest);
            Assert.Equal(shared, _store.GetBlobSize(blob.Digest) is not null);
        }

        Assert.False(Directory.Exists(Path.GetDirectoryName(_store.GetManifestPath(ModelName.Parse("alpha"))))); // empty folder gone
        (exit, stdout, _) = await RegcProcess.RunAsync("verify", "--models", _store.Root);
        Assert.True(exit == 0, stdout);
        Assert.DoesNotContain("orphaned", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prune_DryRunListsAndRemovesNothing_ThenRemovesOnlyWhatNoOneNeeds()
    {
        DateTime old = DateTime.UtcNow.AddDays(-2);
        Digest orphan = Digest.Compute("orphan"u8);
        File.WriteAllText(_store.GetBlobPath(orphan), "orphan");
        File.SetLastWriteTimeUtc(_store.GetBlobPath(orphan), old);
        Digest fresh = Digest.Compute("fresh"u8);
        File.WriteAllText(_store.GetBlobPath(fresh), "fresh"); // just committed by some pull: kept

        Directory.CreateDirectory(_store.PartialDirectory);
        string dead = Path.Combine(_store.PartialDirectory, $"{Digest.Compute("dead"u8).FileName}.1-deadbeef");
        File.WriteAllText(dead + ".partial", "half");
        File.WriteAllText(dead + ".marker", "m");
        File.WriteAllText(dead + ".owner", "regc-owner 1\nhost=elsewhere\npid=1\nstart=1\n");
        foreach (string file in new[] { dead + ".partial", dead + ".marker", dead + ".owner" })
        {
            File.SetLastWriteTimeUtc(file, old);
        }

        string live = Path.Combine(_store.PartialDirectory, $"{Digest.Compute("live"u8).FileName}.{PartialOwner.Current.Id}");
        File.WriteAllText(live + ".partial", "being written");
        File.WriteAllText(live + ".owner", PartialOwner.Current.Serialize());
        File.SetLastWriteTimeUtc(live + ".partial", old);

        Directory.CreateDirectory(_store.ChunkSumsDirectory);
        string sidecar = _store.GetChunkSumsPath(Digest.Compute("gone"u8), 1 << 20);
        File.WriteAllText(sidecar, "x");
        Directory.CreateDirectory(_store.TempDirectory);
        string temp = Path.Combine(_store.TempDirectory, "write-1-abc");
        File.WriteAllText(temp, "tmp");
        File.SetLastWriteTimeUtc(temp, old);
        string[] before = TestModels.Files(_store.Root);

        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("prune", "--dry-run", "--models", _store.Root);
        Assert.True(exit == 0, stderr);
        Assert.Equal(before, TestModels.Files(_store.Root));
        Assert.Contains("a pull is running", stdout, StringComparison.Ordinal); // the live partial: orphans kept
        Assert.DoesNotContain(orphan.FileName, stdout, StringComparison.Ordinal);

        File.Delete(live + ".partial");
        File.Delete(live + ".owner");
        (exit, stdout, stderr) = await RegcProcess.RunAsync("prune", "--dry-run", "--models", _store.Root);
        Assert.True(exit == 0, stderr);
        foreach (string path in new[] { _store.GetBlobPath(orphan), dead + ".partial", dead + ".marker", dead + ".owner", sidecar, temp })
        {
            Assert.Contains("would remove " + Path.GetRelativePath(_store.Root, path), stdout, StringComparison.Ordinal);
        }

        Assert.Contains("dry run: 6 file(s)", stdout, StringComparison.Ordinal);

        (exit, stdout, stderr) = await RegcProcess.RunAsync("prune", "--models", _store.Root);
        Assert.True(exit == 0, stderr);
        Assert.Contains("removed 6 file(s)", stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(_store.GetBlobPath(orphan)));
        Assert.True(File.Exists(_store.GetBlobPath(fresh)));
        Assert.All(_alpha.Blobs.Concat(_beta.Blobs), b => Assert.Equal(b.Size, _store.GetBlobSize(b.Digest)));
        Assert.Equal(2, _store.ListManifests().Count());
    }

    [Fact]
    public async Task Serve_Catalog_ListsEveryRepository()
    {
        await using OwnRegistry registry = await OwnRegistry.StartAsync(_store);
        using var client = new HttpClient();
        var catalog = await client.GetFromJsonAsync<Dictionary<string, string[]>>(new Uri(registry.BaseAddress, "v2/_catalog"), TestContext.Current.CancellationToken);
        Assert.Equal(["library/alpha", "team/beta"], catalog!["repositories"]);
    }
}
