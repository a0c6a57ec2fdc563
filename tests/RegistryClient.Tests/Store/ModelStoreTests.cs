using System.Text;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Store;

public sealed class ModelStoreTests
{
    [Fact]
    public void Paths_FollowOllamasLayout()
    {
        var store = new ModelStore("/models");
        Digest digest = Digest.Compute("abc"u8);
        Assert.Equal("/models/blobs/sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", store.GetBlobPath(digest));
        Assert.Equal("/models/manifests/registry.ollama.ai/library/llama3.2/latest", store.GetManifestPath(ModelName.Parse("llama3.2")));
        Assert.Equal("/models/manifests/host:5000/ns/m/t", store.GetManifestPath(ModelName.Parse("HOST:5000/NS/M:T")));
        Assert.Equal("/models/.regc/partial", store.PartialDirectory);
    }

    [Fact]
    public void ResolveRoot_PrefersOptionThenEnvironment()
    {
        Assert.Equal("/explicit", ModelStore.ResolveRoot("/explicit"));
        string? saved = Environment.GetEnvironmentVariable("OLLAMA_MODELS");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string expected = saved is { Length: > 0 } ? Path.GetFullPath(saved) : Path.Combine(home, ".ollama", "models");
        Assert.Equal(expected, ModelStore.ResolveRoot(null));
    }

    [Fact]
    public async Task WriteManifestAsync_WritesBytesExactly_AndLeavesNoTemporaryFiles()
    {
        using var temp = new TempDirectory();
        var store = new ModelStore(temp.Path);
        store.EnsureWritable();
        byte[] bytes = Encoding.UTF8.GetBytes("{\"exact\": \"bytes\" }\n");
        ModelName name = ModelName.Parse("ns/model:tag");
        await store.WriteManifestAsync(name, bytes, TestContext.Current.CancellationToken);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(store.GetManifestPath(name), TestContext.Current.CancellationToken));
        Assert.Empty(Directory.GetFiles(store.TempDirectory));
    }

    [Fact]
    public async Task WriteManifestAsync_SymlinkedHostFolder_IsRefusedAndNothingIsWrittenOutside()
    {
        using var temp = new TempDirectory();
        var store = new ModelStore(temp.Combine("store"));
        store.EnsureWritable();
        string outside = StoreAuditor.CreateSentinel(temp.Path);
        Directory.CreateSymbolicLink(Path.Combine(store.ManifestsDirectory, "registry.ollama.ai"), outside);

        var error = await Assert.ThrowsAsync<StoreException>(() => store.WriteManifestAsync(ModelName.Parse("llama"), "{}"u8.ToArray(), TestContext.Current.CancellationToken));
        Assert.Contains("symbolic link", error.Message, StringComparison.Ordinal);
        StoreAuditor.AssertSentinelUntouched(outside);
    }

    [Fact]
    public void GetBlobSize_SymlinkOrDirectory_IsNotABlob()
    {
        using var temp = new TempDirectory();
        var store = new ModelStore(temp.Path);
        store.EnsureWritable();
        Digest link = Digest.Compute("link"u8);
        Digest folder = Digest.Compute("folder"u8);
        File.CreateSymbolicLink(store.GetBlobPath(link), "/etc/hostname");
        Directory.CreateDirectory(store.GetBlobPath(folder));
        Assert.Null(store.GetBlobSize(link));
        Assert.Null(store.GetBlobSize(folder));
    }

    [Fact]
    public async Task ImportBlobAsync_StoresUnderItsDigest()
    {
        using var temp = new TempDirectory();
        var store = new ModelStore(temp.Path);
        using var content = new MemoryStream("abc"u8.ToArray());
        Descriptor descriptor = await store.ImportBlobAsync(content, "text/plain", TestContext.Current.CancellationToken);
        Assert.Equal(Digest.Compute("abc"u8), descriptor.Digest);
        Assert.Equal(3, store.GetBlobSize(descriptor.Digest));
        StoreAuditor.AssertConsistent(store);
    }

    [Fact]
    public void EnsureWritable_ReadOnlyLocation_FailsWithTheStoreNamed()
    {
        using var temp = new TempDirectory();
        string file = temp.Combine("not-a-folder");
        File.WriteAllText(file, "x");
        var store = new ModelStore(Path.Combine(file, "models"));
        var error = Assert.Throws<StoreException>(store.EnsureWritable);
        Assert.Contains(store.Root, error.Message, StringComparison.Ordinal);
    }
}
