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

    /// <summary>Every file under a folder, as paths relative to it with '/' separators, sorted.</summary>
    public static string[] Files(string root) => Directory.Exists(root)
        ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal).ToArray()
        : [];
}
