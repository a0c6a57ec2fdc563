using System.Net.Http.Headers;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Remote;

/// <summary>Pulls from a real distribution v2 registry (Debian's docker-registry) on loopback.</summary>
public sealed class DockerRegistryPullTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private DockerRegistry _registry = null!;
    private ModelStore _source = null!;
    private byte[] _manifest = null!;

    public async ValueTask InitializeAsync()
    {
        _registry = await DockerRegistry.StartAsync();
        (_source, _manifest) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/three:latest", TestModels.ThreeLayers, seed: 3);
        using var pusher = new RegistryPusher(_registry.BaseAddress);
        await pusher.PushModelAsync(_source, "library/three", "latest", _manifest);
    }

    public async ValueTask DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        _temp.Dispose();
    }

    [Fact]
    public async Task Pull_ThreeLayerModel_IsByteIdenticalWithTheRegistrysExactManifest()
    {
        var target = new ModelStore(_temp.Combine("target"));
        ModelName name = ModelName.Parse($"{_registry.HostAndPort}/library/three:latest");
        var puller = new ModelPuller(Registries.Create(Registries.FastRetries with { Insecure = true }), target);

        PullResult first = await puller.PullAsync([name], cancellationToken: TestContext.Current.CancellationToken);

        Manifest manifest = Manifest.Parse(_manifest);
        Assert.Equal(4, first.BlobsFetched);
        foreach (Descriptor blob in manifest.Blobs)
        {
            Assert.Equal(
                await File.ReadAllBytesAsync(_source.GetBlobPath(blob.Digest), TestContext.Current.CancellationToken),
                await File.ReadAllBytesAsync(target.GetBlobPath(blob.Digest), TestContext.Current.CancellationToken));
        }

        Assert.Equal(await RegistryManifestBytesAsync(), await File.ReadAllBytesAsync(target.GetManifestPath(name), TestContext.Current.CancellationToken));
        string[] expected = manifest.Blobs.Select(b => "blobs/" + b.Digest.FileName)
            .Append($"manifests/{_registry.HostAndPort}/library/three/latest").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, TestModels.Files(target.Root).Where(f => !f.StartsWith(".regc/", StringComparison.Ordinal)));
        StoreAuditor.AssertConsistent(target);

        PullResult again = await puller.PullAsync([name], cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(0, again.BlobsFetched);
        Assert.Equal(manifest.TotalSize, again.BytesCached);
        Assert.True(again.Elapsed < TimeSpan.FromSeconds(5), $"a no-op pull took {again.Elapsed}");
    }

    [Fact]
    public async Task Pull_UnknownTag_IsModelNotFound()
    {
        var target = new ModelStore(_temp.Combine("target"));
        var puller = new ModelPuller(Registries.Create(Registries.FastRetries with { Insecure = true }), target);

        var error = await Assert.ThrowsAsync<ModelNotFoundException>(
            () => puller.PullAsync([ModelName.Parse($"{_registry.HostAndPort}/library/three:missing")], cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains("three:missing", error.Message, StringComparison.Ordinal);
        StoreAuditor.AssertNoManifests(target);
    }

    private async Task<byte[]> RegistryManifestBytesAsync()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_registry.BaseAddress, "v2/library/three/manifests/latest"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.DockerManifest));
        using HttpResponseMessage response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
    }
}
