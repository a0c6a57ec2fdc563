using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Store;

/// <summary>
/// Ollama's layout: <c>blobs/sha256-&lt;hex&gt;</c>, and each manifest as a file
/// <c>manifests/&lt;host&gt;/&lt;namespace&gt;/&lt;model&gt;/&lt;tag&gt;</c> (lower-cased).
/// </summary>
internal sealed class OllamaLayout : LayoutStrategy
{
    public static readonly OllamaLayout Instance = new();

    public override StoreLayout Kind => StoreLayout.Ollama;

    public override bool ManifestsAreBlobs => false;

    public override string BlobsDirectory(string root) => Path.Combine(root, "blobs");

    public override string BlobFileName(Digest digest) => digest.FileName;

    public override bool TryParseBlobFileName(ReadOnlySpan<char> fileName, out Digest digest) => Digest.TryParseFileName(fileName, out digest);

    public override IEnumerable<string> ExtraDirectories(ModelStore store) => [store.ManifestsDirectory];

    /// <summary>The path of a model's manifest file.</summary>
    public static string ManifestPath(ModelStore store, ModelName name)
    {
        IReadOnlyList<string> parts = name.StorePathParts;
        return Path.Combine(store.ManifestsDirectory, parts[0], parts[1], parts[2], parts[3]);
    }

    public override IEnumerable<StoredManifest> ListManifests(ModelStore store)
    {
        if (!Directory.Exists(store.ManifestsDirectory))
        {
            yield break;
        }

        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint };
        foreach (string file in Directory.EnumerateFiles(store.ManifestsDirectory, "*", options))
        {
            string[] parts = Path.GetRelativePath(store.ManifestsDirectory, file).Split(Path.DirectorySeparatorChar);
            if (parts.Length != 4
                || !ModelName.TryParse($"{parts[0]}/{parts[1]}/{parts[2]}:{parts[3]}", out ModelName? name, out _))
            {
                continue;
            }

            yield return new StoredManifest(name, file, File.GetLastWriteTimeUtc(file));
        }
    }

    public override async Task WriteManifestAsync(ModelStore store, ModelName name, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> parts = name.StorePathParts;
        string directory = store.EnsureDirectory(store.ManifestsDirectory, parts[0], parts[1], parts[2]);
        string target = Path.Combine(directory, parts[3]);
        if (Directory.Exists(target) || new FileInfo(target).LinkTarget is not null)
        {
            throw new StoreException($"{target} is a directory or a link, not a manifest file");
        }

        await store.WriteAtomicallyAsync(target, bytes, cancellationToken).ConfigureAwait(false);
    }

    public override Task DeleteManifestAsync(ModelStore store, ModelName name, CancellationToken cancellationToken)
    {
        string path = ManifestPath(store, name);
        File.Delete(path);
        for (string? directory = Path.GetDirectoryName(path); directory is not null && directory.Length > store.ManifestsDirectory.Length; directory = Path.GetDirectoryName(directory))
        {
            if (Directory.EnumerateFileSystemEntries(directory).Any())
            {
                break;
            }

            Directory.Delete(directory);
        }

        return Task.CompletedTask;
    }
}
