using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>Source stores holding generated models, and the model shapes the tests use.</summary>
public static class TestModels
{
    /// <summary>The three-layer model: 96 MiB weights, 1 MiB, and a few bytes.</summary>
    public static readonly long[] ThreeLayers = [96L << 20, 1L << 20, 5];

    /// <summary>Writes a model into a new store under <paramref name="directory"/>; returns the store and manifest bytes.</summary>
    public static async Task<(ModelStore Store, byte[] Manifest)> CreateAsync(string directory, string name, long[] layers, ulong seed)
    {
        var store = new ModelStore(directory);
        byte[] manifest = await SampleModel.CreateAsync(store, ModelName.Parse(name), layers, seed);
        return (store, manifest);
    }

    /// <summary>
    /// Writes a model whose manifest is an OCI image with standard layer types (which skopeo copies) into a new store
    /// under <paramref name="directory"/>; returns the store and the manifest bytes.
    /// </summary>
    public static async Task<(ModelStore Store, byte[] Manifest)> CreateOciAsync(string directory, ModelName name, long[] layers, ulong seed)
    {
        (ModelStore store, byte[] ollama) = await CreateAsync(directory, name.DisplayName, layers, seed);
        Manifest parsed = Manifest.Parse(ollama);
        static string Entry(string type, Descriptor d) => $$"""{"mediaType":"{{type}}","digest":"{{d.Digest}}","size":{{d.Size}}}""";
        string entries = string.Join(",", parsed.Layers.Select(l => Entry("application/vnd.oci.image.layer.v1.tar", l)));
        byte[] oci = System.Text.Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{{Entry("application/vnd.oci.image.config.v1+json", parsed.Config)}},"layers":[{{entries}}]}""");
        await store.WriteManifestAsync(name, oci);
        return (store, oci);
    }

    /// <summary>Every file under a folder, as paths relative to it with '/' separators, sorted.</summary>
    public static string[] Files(string root) => Directory.Exists(root)
        ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal).ToArray()
        : [];
}
