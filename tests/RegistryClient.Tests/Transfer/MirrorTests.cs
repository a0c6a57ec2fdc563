using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// Issue 5's mirror: two models from the project's server into an OCI layout that skopeo reads back (manifests
/// identical, every blob copied and checked by skopeo); into an Ollama store that regc serve serves and regc pull
/// pulls again byte for byte; and from that mirror, or from the OCI layout, to a new store with no registry at all.
/// </summary>
public sealed class MirrorTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private byte[] _manifestA = null!;
    private byte[] _manifestB = null!;
    private OwnRegistry _registry = null!;

    public async ValueTask InitializeAsync()
    {
        _source = new ModelStore(_temp.Combine("source"));
        // The models share their config-sized third layer, so one blob is named twice.
        _manifestA = await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/library/alpha:latest"), [70L << 20, 3_000, 777], seed: 11, cancellationToken: TestContext.Current.CancellationToken);
        _manifestB = await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/team/beta:7b"), [5L << 20, 777], seed: 11, cancellationToken: TestContext.Current.CancellationToken);
        _registry = await OwnRegistry.StartAsync(_source);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    private string[] Names => [$"http://{_registry.HostAndPort}/library/alpha:latest", $"http://{_registry.HostAndPort}/team/beta:7b"];

    [Fact]
    public async Task TwoModels_ToAnOciLayout_ReadBackBySkopeo()
    {
        string layout = _temp.Combine("oci");
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync(["mirror", .. Names, "--to", layout, "--format", "oci"]);
        Assert.True(exit == 0, stderr + stdout);
        Assert.Contains("mirrored 2 model(s)", stdout, StringComparison.Ordinal);
        Assert.Equal("""{"imageLayoutVersion":"1.0.0"}""", File.ReadAllText(Path.Combine(layout, "oci-layout")));

        foreach ((string reference, byte[] expected) in new[] { ("library/alpha:latest", _manifestA), ("team/beta:7b", _manifestB) })
        {
            (int code, string raw, string error) = await ExternalTool.RunAsync("skopeo", "inspect", "--raw", $"oci:{layout}:{reference}");
            Assert.True(code == 0, error);
            Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), raw.TrimEnd('\n'));

            // skopeo copy reads every blob of the manifest and checks each digest.
            string copy = _temp.Combine("skopeo-" + reference.Replace('/', '-').Replace(':', '-'));
            (code, _, error) = await ExternalTool.RunAsync("skopeo", "copy", "--insecure-policy", $"oci:{layout}:{reference}", $"dir:{copy}");
            Assert.True(code == 0, error);
            foreach (Descriptor blob in Manifest.Parse(expected).Blobs)
            {
                Assert.Equal(blob.Digest, Digest.Compute(File.ReadAllBytes(Path.Combine(copy, blob.Digest.Hex))));
            }
        }

        var oci = new ModelStore(layout, StoreLayout.Oci);
        foreach (string file in Directory.GetFiles(oci.BlobsDirectory))
        {
            Assert.Equal(Path.GetFileName(file), Digest.Compute(File.ReadAllBytes(file)).Hex);
        }
    }

    [Fact]
    public async Task Mirror_ServedAndPulledAgain_ByteIdentical_AndCarriedWithoutNetwork()
    {
        string mirrorRoot = _temp.Combine("mirror");
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync(["mirror", .. Names, "--to", mirrorRoot]);
        Assert.True(exit == 0, stderr + stdout);
        var mirror = new ModelStore(mirrorRoot);
        StoreAuditor.AssertConsistent(mirror);
        long blobBytes = Manifest.Parse(_manifestA).Blobs.Concat(Manifest.Parse(_manifestB).Blobs).DistinctBy(b => b.Digest).Sum(b => b.Size);
        Assert.Equal(blobBytes, (await _registry.SettledLogLinesAsync()).Where(l => l.Contains("/blobs/", StringComparison.Ordinal)).Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)));

        // Served by regc serve, pulled again.
        await using (OwnRegistry served = await OwnRegistry.StartAsync(mirror))
        {
            string again = _temp.Combine("again");
            (exit, _, stderr) = await RegcProcess.RunAsync("pull", $"http://{served.HostAndPort}/library/alpha:latest", $"http://{served.HostAndPort}/team/beta:7b", "--models", again);
            Assert.True(exit == 0, stderr);
            AssertSameModels(new ModelStore(again));
        }

        // Carried to another store with no registry running at all.
        await _registry.DisposeAsync();
        _registry = await OwnRegistry.StartAsync(_source); // restarted only for DisposeAsync; not used below
        string carried = _temp.Combine("carried");
        (exit, stdout, stderr) = await RegcProcess.RunAsync("mirror", "--from-store", mirrorRoot, "--to", carried);
        Assert.True(exit == 0, stderr);
        Assert.Contains("mirrored 2 model(s)", stdout, StringComparison.Ordinal);
        AssertSameModels(new ModelStore(carried));
        Assert.Empty(_registry.LogLines());
    }

    [Fact]
    public async Task OciLayout_AsASource_ByOciName_AndDamageNeverSpreads()
    {
        string layout = _temp.Combine("oci");
        (int exit, _, string stderr) = await RegcProcess.RunAsync(["mirror", .. Names, "--to", layout, "--format", "oci"]);
        Assert.True(exit == 0, stderr);

        string target = _temp.Combine("from-oci");
        (exit, string stdout, stderr) = await RegcProcess.RunAsync("mirror", $"oci:{layout}:library/alpha:latest", $"oci:{layout}:7b", "--to", target);
        Assert.True(exit == 0, stderr + stdout);
        AssertSameModels(new ModelStore(target));

        // A flipped byte in the layout: the copy refuses the blob and stores nothing under its name.
        Descriptor big = Manifest.Parse(_manifestA).Layers[0];
        string damaged = new ModelStore(layout, StoreLayout.Oci).GetBlobPath(big.Digest);
        byte[] bytes = File.ReadAllBytes(damaged);
        bytes[12345] ^= 0x10;
        File.WriteAllBytes(damaged, bytes);
        var fresh = new ModelStore(_temp.Combine("fresh"));
        (exit, _, stderr) = await RegcProcess.RunAsync("mirror", $"oci:{layout}:library/alpha:latest", "--to", fresh.Root);
        Assert.Equal(1, exit);
        Assert.StartsWith("error: ", stderr, StringComparison.Ordinal);
        Assert.Contains(big.Digest.ToString(), stderr, StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(fresh);
        StoreAuditor.AssertNoManifests(fresh);
    }

    [Fact]
    public async Task KeepGoing_MirrorsTheOthersAndNamesTheFailure_AllTagsFollowsTagsList()
    {
        await SampleModel.CreateAsync(_source, ModelName.Parse("registry.ollama.ai/library/alpha:small"), [2_000], seed: 12, cancellationToken: TestContext.Current.CancellationToken);
        string target = _temp.Combine("keep");
        string missing = $"http://{_registry.HostAndPort}/library/nothing:latest";
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("mirror", Names[0], missing, Names[1], "--to", target, "--keep-going", "--all-tags");
        Assert.Equal(1, exit);
        Assert.Contains("library/nothing", stderr, StringComparison.Ordinal);
        Assert.Contains("mirrored 3 model(s)", stdout, StringComparison.Ordinal); // alpha:latest, alpha:small, beta:7b
        var store = new ModelStore(target);
        Assert.Equal(["library/alpha:latest", "library/alpha:small", "team/beta:7b"], store.ListManifests().Select(m => $"{m.Name.Repository}:{m.Name.Tag}").Order(StringComparer.Ordinal));
        StoreAuditor.AssertConsistent(store);

        // Without --all-tags the missing model fails inside the shared pull: the others are then mirrored one by one.
        string second = _temp.Combine("keep-2");
        (exit, stdout, stderr) = await RegcProcess.RunAsync("mirror", missing, Names[1], "--to", second, "--keep-going");
        Assert.Equal(1, exit);
        Assert.Contains("error: " + missing[7..].Replace("http://", string.Empty, StringComparison.Ordinal), stderr, StringComparison.Ordinal);
        Assert.Contains("mirrored 1 model(s)", stdout, StringComparison.Ordinal);
        Assert.Equal(["team/beta:7b"], new ModelStore(second).ListManifests().Select(m => $"{m.Name.Repository}:{m.Name.Tag}"));

        // Without --keep-going the first failure ends the run with one line.
        (exit, _, stderr) = await RegcProcess.RunAsync("mirror", missing, Names[1], "--to", _temp.Combine("stop"));
        Assert.Equal(1, exit);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private void AssertSameModels(ModelStore store)
    {
        StoreAuditor.AssertConsistent(store);
        var manifests = store.ListManifests().ToDictionary(m => $"{m.Name.Repository}:{m.Name.Tag}", m => File.ReadAllBytes(m.Path));
        Assert.Equal(_manifestA, manifests["library/alpha:latest"]);
        Assert.Equal(_manifestB, manifests["team/beta:7b"]);
        foreach (Descriptor blob in Manifest.Parse(_manifestA).Blobs.Concat(Manifest.Parse(_manifestB).Blobs))
        {
            Assert.Equal(File.ReadAllBytes(_source.GetBlobPath(blob.Digest)), File.ReadAllBytes(store.GetBlobPath(blob.Digest)));
        }
    }
}
