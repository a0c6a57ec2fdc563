using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Store;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// Checks the store invariants after a test: every file in blobs/ hashes to its name (I1); every manifest names
/// only blobs that are there with the right size (I2); no temporary or partial file sits in blobs/ or manifests/
/// (I4). Sentinel files beside the store prove nothing was written outside it (I3).
/// </summary>
public static class StoreAuditor
{
    public static void AssertConsistent(ModelStore store)
    {
        if (Directory.Exists(store.BlobsDirectory))
        {
            foreach (string file in Directory.EnumerateFileSystemEntries(store.BlobsDirectory))
            {
                string name = Path.GetFileName(file);
                Assert.True(store.TryParseBlobFileName(name, out Digest digest), $"stray entry in blobs/: {name}");
                using FileStream stream = File.OpenRead(file);
                Assert.True(digest.Matches(SHA256.HashData(stream)), $"blobs/{name} does not hash to its name");
            }
        }

        foreach (StoredManifest manifest in store.ListManifests())
        {
            Manifest parsed = store.ParseManifest(File.ReadAllBytes(manifest.Path)); // an index: its children too
            foreach (Descriptor blob in parsed.Blobs)
            {
                Assert.True(store.GetBlobSize(blob.Digest) == blob.Size, $"manifest {manifest.Name} names {blob.Digest}, which is missing or the wrong size");
            }
        }

        if (Directory.Exists(store.ManifestsDirectory))
        {
            foreach (string file in Directory.EnumerateFiles(store.ManifestsDirectory, "*", SearchOption.AllDirectories))
            {
                Assert.DoesNotContain(".partial", file, StringComparison.Ordinal);
            }
        }
    }

    public static void AssertNoManifests(ModelStore store) => Assert.Empty(store.ListManifests());

    /// <summary>Creates a sentinel folder beside the store; <see cref="AssertSentinelUntouched"/> checks it later.</summary>
    public static string CreateSentinel(string parent)
    {
        string sentinel = Path.Combine(parent, "sentinel");
        Directory.CreateDirectory(sentinel);
        File.WriteAllText(Path.Combine(sentinel, "keep.txt"), "untouched");
        return sentinel;
    }

    public static void AssertSentinelUntouched(string sentinel)
    {
        string[] entries = Directory.GetFileSystemEntries(sentinel, "*", SearchOption.AllDirectories);
        Assert.Equal([Path.Combine(sentinel, "keep.txt")], entries);
        Assert.Equal("untouched", File.ReadAllText(entries[0]));
    }
}
