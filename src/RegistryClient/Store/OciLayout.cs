using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Store;

/// <summary>
/// The OCI image layout: <c>oci-layout</c>, <c>index.json</c> naming each manifest, and <c>blobs/sha256/&lt;hex&gt;</c>
/// for blobs and manifests alike (see <see cref="OciIndex"/>).
/// </summary>
internal sealed class OciLayout : LayoutStrategy
{
    public static readonly OciLayout Instance = new();

    public override StoreLayout Kind => StoreLayout.Oci;

    public override bool ManifestsAreBlobs => true;

    public override string BlobsDirectory(string root) => Path.Combine(root, "blobs", "sha256");

    public override string BlobFileName(Digest digest) => digest.Hex;

    public override bool TryParseBlobFileName(ReadOnlySpan<char> fileName, out Digest digest)
    {
        digest = default;
        return fileName.Length == 64 && Digest.TryParse("sha256:" + fileName.ToString(), out digest);
    }

    public override IEnumerable<string> ExtraDirectories(ModelStore store) => [];

    public override IEnumerable<StoredManifest> ListManifests(ModelStore store)
    {
        foreach ((string _, ModelName name, Descriptor manifest) in OciIndex.Read(store))
        {
            string path = store.GetBlobPath(manifest.Digest);
            yield return new StoredManifest(name, path, File.GetLastWriteTimeUtc(path));
        }
    }

    public override async Task WriteManifestAsync(ModelStore store, ModelName name, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        // The manifest is a blob of the layout (named by the hash of these very bytes); index.json names it, last.
        Digest digest = Digest.Compute(bytes.Span);
        await store.WriteSmallBlobAsync(digest, bytes, cancellationToken).ConfigureAwait(false);
        string mediaType = ManifestIndex.IsIndex(bytes.Span, null)
            ? ManifestIndex.Parse(bytes.Span).MediaType ?? MediaTypes.OciIndex
            : Manifest.Parse(bytes.Span).MediaType ?? MediaTypes.OciManifest;
        await OciIndex.EnsureLayoutFileAsync(store, cancellationToken).ConfigureAwait(false);
        await OciIndex.SetAsync(store, name, new Descriptor(mediaType, digest, bytes.Length), cancellationToken).ConfigureAwait(false);
    }

    public override Task DeleteManifestAsync(ModelStore store, ModelName name, CancellationToken cancellationToken) =>
        OciIndex.RemoveAsync(store, name, cancellationToken);

    /// <summary>A ref name (<c>library/llama3.2:latest</c>, any case), or a bare tag that names exactly one manifest.</summary>
    public override ModelName? FindByReference(ModelStore store, string reference)
    {
        var tagged = OciIndex.Read(store);
        var byRef = tagged.Where(e => string.Equals(e.RefName, reference, StringComparison.OrdinalIgnoreCase)).ToArray();
        if (byRef.Length == 0 && !reference.Contains('/', StringComparison.Ordinal) && !reference.Contains(':', StringComparison.Ordinal))
        {
            byRef = tagged.Where(e => string.Equals(e.Name.Tag, reference, StringComparison.OrdinalIgnoreCase)).ToArray();
        }

        return byRef.Length == 1 ? byRef[0].Name : null;
    }
}
