using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Store;

/// <summary>
/// How a <see cref="ModelStore"/> lays out its blobs and manifests: an Ollama store (<see cref="OllamaLayout"/>) or an
/// OCI image layout (<see cref="OciLayout"/>). The store keeps everything both share (the state folder, partials, the
/// atomic commit, the safe creation of folders) and asks its layout for the rest.
/// </summary>
internal abstract class LayoutStrategy
{
    /// <summary>The layout's name.</summary>
    public abstract StoreLayout Kind { get; }

    /// <summary>True when a manifest is itself a blob of the store (OCI), so it counts as one for pruning and verifying.</summary>
    public abstract bool ManifestsAreBlobs { get; }

    /// <summary>The folder of complete blobs under <paramref name="root"/>.</summary>
    public abstract string BlobsDirectory(string root);

    /// <summary>A blob's file name in <see cref="BlobsDirectory"/>.</summary>
    public abstract string BlobFileName(Digest digest);

    /// <summary>The digest a file name in <see cref="BlobsDirectory"/> stands for; false for anything else.</summary>
    public abstract bool TryParseBlobFileName(ReadOnlySpan<char> fileName, out Digest digest);

    /// <summary>The folders a writable store of this layout needs besides the blobs and the state folder.</summary>
    public abstract IEnumerable<string> ExtraDirectories(ModelStore store);

    /// <summary>The stored manifests whose names are valid model names.</summary>
    public abstract IEnumerable<StoredManifest> ListManifests(ModelStore store);

    /// <summary>Writes a manifest (last, atomically), its blobs being complete already.</summary>
    public abstract Task WriteManifestAsync(ModelStore store, ModelName name, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken);

    /// <summary>Removes a model's manifest.</summary>
    public abstract Task DeleteManifestAsync(ModelStore store, ModelName name, CancellationToken cancellationToken);

    /// <summary>
    /// The manifest a reference of the layout's own names (an OCI layout's ref name, or a bare tag naming one manifest)
    /// stands for; null when the layout has no such names or none matches.
    /// </summary>
    public virtual ModelName? FindByReference(ModelStore store, string reference) => null;

    /// <summary>The strategy for <paramref name="layout"/>.</summary>
    public static LayoutStrategy For(StoreLayout layout) => layout == StoreLayout.Oci ? OciLayout.Instance : OllamaLayout.Instance;
}
