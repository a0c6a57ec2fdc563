using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Remote;

/// <summary>
/// Issue 6, item 5: an OCI index with two platforms on a real docker-registry. Pull picks this machine's
/// platform or the one asked for; mirror keeps the index and both children, in an OCI layout (read back by skopeo)
/// and in an Ollama store that regc serve serves again, platform by platform.
/// </summary>
public sealed class ManifestIndexTests : IAsyncLifetime
{
    private const string Repository = "library/multi";

    private readonly TempDirectory _temp = new();
    private DockerRegistry _registry = null!;
    private ModelStore _source = null!;
    private byte[] _amd64 = null!;
    private byte[] _arm64 = null!;
    private byte[] _list = null!;

    public async ValueTask InitializeAsync()
    {
        _registry = await DockerRegistry.StartAsync();
        _source = new ModelStore(_temp.Combine("source"));

        // Same seed: the two platforms share their config and small layer; their weights differ. The children are
        // OCI manifests with standard layer types, which skopeo accepts (it refuses Ollama's inside an index).
        _amd64 = AsOciImage(await SampleModel.CreateAsync(_source, ModelName.Parse("src/library/amd:latest"), [3L << 20, 1000], seed: 61, cancellationToken: TestContext.Current.CancellationToken));
        _arm64 = AsOciImage(await SampleModel.CreateAsync(_source, ModelName.Parse("src/library/arm:latest"), [2L << 20, 1000], seed: 61, cancellationToken: TestContext.Current.CancellationToken));
        _list = BuildIndex((_amd64, "amd64", null), (_arm64, "arm64", "v8"));

        using var pusher = new RegistryPusher(_registry.BaseAddress);
        foreach (byte[] child in new[] { _amd64, _arm64 })
        {
            await pusher.PushModelAsync(_source, Repository, Digest.Compute(child).ToString(), child, MediaTypes.OciManifest);
        }

        await pusher.PushManifestAsync(Repository, "latest", _list, MediaTypes.OciIndex);
    }

    public async ValueTask DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        _temp.Dispose();
    }

    private string Name => $"{_registry.HostAndPort}/{Repository}:latest";

    private byte[] ThisMachines => RuntimeInformation.OSArchitecture == Architecture.Arm64 ? _arm64 : _amd64;

    [Fact]
    public async Task Pull_PicksThisMachinesPlatform_OrTheOneAsked_AndListsThePlatformsWhenNoneMatches()
    {
        ModelName name = ModelName.Parse(Name);
        foreach ((string? platform, byte[] expected) in new[] { ((string?)null, ThisMachines), ("linux/arm64", _arm64), ("linux/amd64", _amd64) })
        {
            var target = new ModelStore(_temp.Combine($"pull-{platform?.Replace('/', '-') ?? "default"}"));
            var puller = new ModelPuller(Registries.Create(Registries.FastRetries with { Insecure = true }), target, new PullOptions { Platform = platform });
            PullResult result = await puller.PullAsync([name], cancellationToken: TestContext.Current.CancellationToken);

            Assert.Equal(expected, await File.ReadAllBytesAsync(target.GetManifestPath(name), TestContext.Current.CancellationToken));
            Assert.Equal(Manifest.Parse(expected).Blobs.Count, result.BlobsFetched);
            Assert.False(File.Exists(target.GetBlobPath(Digest.Compute(_list))));
            StoreAuditor.AssertConsistent(target);
        }

        var none = new ModelStore(_temp.Combine("pull-none"));
        var wrong = new ModelPuller(Registries.Create(Registries.FastRetries with { Insecure = true }), none, new PullOptions { Platform = "windows/amd64" });
        InvalidManifestException error = await Assert.ThrowsAsync<InvalidManifestException>(() => wrong.PullAsync([name], cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("no manifest for windows/amd64 (it has: linux/amd64, linux/arm64/v8)", error.Message, StringComparison.Ordinal);
        StoreAuditor.AssertNoManifests(none);
    }

    [Fact]
    public async Task Mirror_ToAnOciLayout_KeepsTheIndexAndBothPlatforms_SkopeoCopiesThemAll()
    {
        string layout = _temp.Combine("oci");
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("mirror", Name, "--to", layout, "--format", "oci", "--insecure");
        Assert.True(exit == 0, stderr + stdout);

        // index.json names the index; the bytes stay the registry's.
        using (JsonDocument index = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(layout, "index.json"), TestContext.Current.CancellationToken)))
        {
            JsonElement entry = Assert.Single(index.RootElement.GetProperty("manifests").EnumerateArray().ToArray());
            Assert.Equal(MediaTypes.OciIndex, entry.GetProperty("mediaType").GetString());
            Assert.Equal(Digest.Compute(_list).ToString(), entry.GetProperty("digest").GetString());
        }

        var oci = new ModelStore(layout, StoreLayout.Oci);
        StoreAuditor.AssertConsistent(oci);
        AssertHoldsEverything(oci);

        (int code, string raw, string error) = await ExternalTool.RunAsync("skopeo", "inspect", "--raw", $"oci:{layout}:{Repository}:latest");
        Assert.True(code == 0, error);
        Assert.Equal(Encoding.UTF8.GetString(_list), raw.TrimEnd('\n'));

        // skopeo copy --all reads the index, both children and every blob, checking each digest on the way.
        string copy = _temp.Combine("skopeo-all");
        (code, _, error) = await ExternalTool.RunAsync("skopeo", "copy", "--all", "--insecure-policy", $"oci:{layout}:{Repository}:latest", $"dir:{copy}");
        Assert.True(code == 0, error);
        foreach (Descriptor blob in Manifest.Parse(_amd64).Blobs.Concat(Manifest.Parse(_arm64).Blobs))
        {
            Assert.Equal(blob.Digest, Digest.Compute(await File.ReadAllBytesAsync(Path.Combine(copy, blob.Digest.Hex), TestContext.Current.CancellationToken)));
        }

        (exit, stdout, stderr) = await RegcProcess.RunAsync("verify", "--models", layout);
        Assert.True(exit == 0, stderr + stdout);
        Assert.DoesNotContain("no manifest names", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mirror_ToAnOllamaStore_ServedAgain_EachPlatformPullsFromTheMirror_RmRemovesEverything()
    {
        string mirrorRoot = _temp.Combine("mirror");
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("mirror", Name, "--to", mirrorRoot, "--insecure");
        Assert.True(exit == 0, stderr + stdout);
        var mirror = new ModelStore(mirrorRoot);
        ModelName name = ModelName.Parse(Name);
        Assert.Equal(_list, await File.ReadAllBytesAsync(mirror.GetManifestPath(name), TestContext.Current.CancellationToken));
        StoreAuditor.AssertConsistent(mirror);
        AssertHoldsEverything(mirror);

        // Again: nothing to fetch.
        (exit, stdout, stderr) = await RegcProcess.RunAsync("mirror", Name, "--to", mirrorRoot, "--insecure");
        Assert.True(exit == 0, stderr);
        Assert.Contains("0 blob(s), 0 B fetched", stdout, StringComparison.Ordinal);

        (exit, stdout, _) = await RegcProcess.RunAsync("list", "--models", mirrorRoot);
        Assert.Equal(0, exit);
        Assert.Contains("(2 platforms)", stdout, StringComparison.Ordinal);
        (exit, stdout, _) = await RegcProcess.RunAsync("show", Name, "--models", mirrorRoot);
        Assert.Equal(0, exit);
        Assert.Contains($"manifest linux/arm64/v8  {MediaTypes.OciManifest}  {Digest.Compute(_arm64)}", stdout, StringComparison.Ordinal);
        (exit, stdout, stderr) = await RegcProcess.RunAsync("verify", "--models", mirrorRoot);
        Assert.True(exit == 0, stderr + stdout);

        await using (OwnRegistry served = await OwnRegistry.StartAsync(mirror))
        {
            // The index by tag, each child by digest, as docker-registry served them.
            string served1 = $"{served.HostAndPort}/{Repository}:latest";
            (int code, string raw, string error) = await ExternalTool.RunAsync("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{served1}");
            Assert.True(code == 0, error);
            Assert.Equal(Encoding.UTF8.GetString(_list), raw.TrimEnd('\n'));
            (code, _, error) = await ExternalTool.RunAsync("skopeo", "copy", "--all", "--insecure-policy", "--src-tls-verify=false", $"docker://{served1}", $"dir:{_temp.Combine("served-all")}");
            Assert.True(code == 0, error);

            foreach ((string platform, byte[] expected) in new[] { ("linux/arm64", _arm64), ("linux/amd64", _amd64) })
            {
                string again = _temp.Combine("again-" + platform.Replace('/', '-'));
                (exit, _, stderr) = await RegcProcess.RunAsync("pull", $"http://{served1}", "--platform", platform, "--models", again);
                Assert.True(exit == 0, stderr);
                Assert.Equal(expected, await File.ReadAllBytesAsync(new ModelStore(again).GetManifestPath(ModelName.Parse($"http://{served1}")), TestContext.Current.CancellationToken));
                StoreAuditor.AssertConsistent(new ModelStore(again));
            }
        }

        // Carried from the Ollama mirror into an OCI layout with no registry: the index stays whole.
        string carried = _temp.Combine("carried");
        (exit, _, stderr) = await RegcProcess.RunAsync("mirror", "--from-store", mirrorRoot, "--to", carried, "--format", "oci");
        Assert.True(exit == 0, stderr);
        AssertHoldsEverything(new ModelStore(carried, StoreLayout.Oci));
        StoreAuditor.AssertConsistent(new ModelStore(carried, StoreLayout.Oci));

        // rm takes the index, both children and every blob: nothing else names them.
        (exit, _, stderr) = await RegcProcess.RunAsync("rm", Name, "--models", mirrorRoot);
        Assert.True(exit == 0, stderr);
        Assert.Empty(Directory.GetFiles(mirror.BlobsDirectory));
        StoreAuditor.AssertNoManifests(mirror);
    }

    [Fact]
    public async Task Mirror_AnIndexWithAWrongChildSize_FailsClearly_AndADamagedChildInTheMirrorIsFoundByVerify()
    {
        byte[] lying = BuildIndex((_amd64, "amd64", null), (_arm64, "arm64", "v8"));
        lying = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(lying).Replace($"\"size\":{_arm64.Length}", $"\"size\":{_arm64.Length + 1}", StringComparison.Ordinal));
        using (var pusher = new RegistryPusher(_registry.BaseAddress))
        {
            await pusher.PushManifestAsync(Repository, "lying", lying, MediaTypes.OciIndex);
        }

        var refused = new ModelStore(_temp.Combine("refused"));
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("mirror", $"{_registry.HostAndPort}/{Repository}:lying", "--to", refused.Root, "--insecure");
        Assert.Equal(1, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"has {_arm64.Length} bytes; its index says {_arm64.Length + 1}", line, StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(refused);
        StoreAuditor.AssertNoManifests(refused);

        // A child manifest damaged in a mirror: verify names the model and the child, and serve does not offer it.
        var mirror = new ModelStore(_temp.Combine("damaged"));
        (exit, stdout, stderr) = await RegcProcess.RunAsync("mirror", Name, "--to", mirror.Root, "--insecure");
        Assert.True(exit == 0, stderr + stdout);
        byte[] damaged = (byte[])_arm64.Clone();
        damaged[^2] ^= 0x01;
        await File.WriteAllBytesAsync(mirror.GetBlobPath(Digest.Compute(_arm64)), damaged, TestContext.Current.CancellationToken);
        (exit, stdout, _) = await RegcProcess.RunAsync("verify", "--models", mirror.Root);
        Assert.NotEqual(0, exit);
        Assert.Contains($"the linux/arm64/v8 manifest {Digest.Compute(_arm64).Short} of the index is damaged", stdout, StringComparison.Ordinal);
        await using OwnRegistry served = await OwnRegistry.StartAsync(mirror);
        using var http = new HttpClient();
        using HttpResponseMessage child = await http.GetAsync(new Uri(served.BaseAddress, $"v2/{Repository}/manifests/{Digest.Compute(_arm64)}"), TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, child.StatusCode);
    }

    /// <summary>Every child manifest and every blob of both platforms is in the store, byte for byte.</summary>
    private void AssertHoldsEverything(ModelStore store)
    {
        foreach (byte[] child in new[] { _amd64, _arm64 })
        {
            Assert.Equal(child, File.ReadAllBytes(store.GetBlobPath(Digest.Compute(child))));
            foreach (Descriptor blob in Manifest.Parse(child).Blobs)
            {
                Assert.Equal(File.ReadAllBytes(_source.GetBlobPath(blob.Digest)), File.ReadAllBytes(store.GetBlobPath(blob.Digest)));
            }
        }
    }

    /// <summary>The same config and layers as an OCI image manifest with standard media types.</summary>
    /// <summary>
    /// <c>regc copy</c> of the index to a second registry copies it whole: the same index bytes (skopeo reads them),
    /// each platform's manifest by digest, and every blob, pushed children first.
    /// </summary>
    [Fact]
    public async Task Copy_ToAnotherRegistry_CopiesTheWholeIndex()
    {
        await using DockerRegistry second = await DockerRegistry.StartAsync();
        string target = $"{second.HostAndPort}/mirror/multi:latest";

        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("copy", Name, target, "--insecure", "--models", _temp.Combine("copy-through"));

        Assert.True(exit == 0, stderr);
        Assert.Contains("pushed", stdout, StringComparison.Ordinal);
        (int code, string raw, string error) = await ExternalTool.RunAsync("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{target}");
        Assert.True(code == 0, error);
        Assert.Equal(Encoding.UTF8.GetString(_list), raw.TrimEnd('\n'));
        RegistryClient.Remote.RemoteRegistry client = Registries.Create(Registries.FastRetries with { Insecure = true });
        foreach (byte[] child in new[] { _amd64, _arm64 })
        {
            RegistryClient.Remote.FetchedManifest fetched = await client.GetManifestAsync(ModelName.Parse(target), Digest.Compute(child), TestContext.Current.CancellationToken);
            Assert.Equal(child, fetched.Bytes.ToArray());
            foreach (Descriptor blob in Manifest.Parse(child).Blobs)
            {
                Assert.True(await client.HasBlobAsync(ModelName.Parse(target), blob, TestContext.Current.CancellationToken), $"{blob.Digest} is missing");
            }
        }
    }

    private static byte[] AsOciImage(byte[] ollamaManifest)
    {
        Manifest parsed = Manifest.Parse(ollamaManifest);
        return Write(json =>
        {
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", MediaTypes.OciManifest);
            json.WritePropertyName("config");
            WriteDescriptor(json, "application/vnd.oci.image.config.v1+json", parsed.Config);
            json.WriteStartArray("layers");
            foreach (Descriptor layer in parsed.Layers)
            {
                WriteDescriptor(json, "application/vnd.oci.image.layer.v1.tar", layer);
            }

            json.WriteEndArray();
        });
    }

    private static byte[] BuildIndex(params (byte[] Manifest, string Architecture, string? Variant)[] children) => Write(json =>
    {
        json.WriteNumber("schemaVersion", 2);
        json.WriteString("mediaType", MediaTypes.OciIndex);
        json.WriteStartArray("manifests");
        foreach ((byte[] manifest, string architecture, string? variant) in children)
        {
            json.WriteStartObject();
            json.WriteString("mediaType", MediaTypes.OciManifest);
            json.WriteString("digest", Digest.Compute(manifest).ToString());
            json.WriteNumber("size", manifest.Length);
            json.WriteStartObject("platform");
            json.WriteString("architecture", architecture);
            json.WriteString("os", "linux");
            if (variant is not null)
            {
                json.WriteString("variant", variant);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    });

    private static void WriteDescriptor(Utf8JsonWriter json, string mediaType, Descriptor descriptor)
    {
        json.WriteStartObject();
        json.WriteString("mediaType", mediaType);
        json.WriteString("digest", descriptor.Digest.ToString());
        json.WriteNumber("size", descriptor.Size);
        json.WriteEndObject();
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
