using System.Text.Json;

namespace RegistryClient.Content;

/// <summary>
/// An image manifest (Docker v2 schema 2 or OCI): a config descriptor and layer descriptors, each with a
/// validated digest and size. Parsing never trusts the document: digests must be canonical, sizes integral,
/// non-negative and consistent, so nothing from a manifest can name a path outside the store.
/// </summary>
public sealed class Manifest
{
    private static readonly Digest s_emptyDigest = Digest.Compute([]);

    private Manifest(string? mediaType, Descriptor config, IReadOnlyList<Descriptor> layers, IEnumerable<Descriptor> blobs, IReadOnlyList<(IndexEntry Entry, Manifest Manifest)> children)
    {
        MediaType = mediaType;
        Config = config;
        Layers = layers;
        (Blobs, TotalSize) = Distinct(blobs);
        Children = children;
    }

    /// <summary>The <c>mediaType</c> field, when the document has one.</summary>
    public string? MediaType { get; }

    /// <summary>The config blob (of an index: its first child's).</summary>
    public Descriptor Config { get; }

    /// <summary>The layers, in manifest order (of an index: every child's, each digest once).</summary>
    public IReadOnlyList<Descriptor> Layers { get; }

    /// <summary>
    /// Every distinct blob the manifest needs (config first, then layers), each digest once. Of an index: the
    /// child manifests first (a store keeps them as blobs), then each child's blobs.
    /// </summary>
    public IReadOnlyList<Descriptor> Blobs { get; }

    /// <summary>Of an index: its child manifests, each with its platform and parsed; empty for an image manifest.</summary>
    public IReadOnlyList<(IndexEntry Entry, Manifest Manifest)> Children { get; }

    /// <summary>True when this stands for an index and its children (<see cref="ForIndex"/>).</summary>
    public bool IsIndex => Children.Count > 0;

    /// <summary>True when <paramref name="digest"/> is one of <see cref="Children"/> (a manifest, not a blob to fetch from /blobs/).</summary>
    public bool IsChild(Digest digest) => Children.Any(c => c.Entry.Descriptor.Digest == digest);

    /// <summary>The sum of the sizes of <see cref="Blobs"/>.</summary>
    public long TotalSize { get; }

    /// <summary>Parses and validates an image manifest.</summary>
    /// <exception cref="InvalidManifestException">The document is not a valid image manifest; the message says where.</exception>
    public static Manifest Parse(ReadOnlySpan<byte> json)
    {
        using JsonDocument document = ManifestJson.Open(json);
        JsonElement root = document.RootElement;
        string? mediaType = ManifestJson.OptionalString(root, "mediaType", "manifest");
        if (MediaTypes.IsIndex(mediaType) || root.TryGetProperty("manifests", out _))
        {
            throw new InvalidManifestException("invalid manifest: this is an index of manifests, not an image manifest");
        }

        if (root.TryGetProperty("schemaVersion", out JsonElement version)
            && (version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out int v) || v != 2))
        {
            throw new InvalidManifestException("invalid manifest: only schemaVersion 2 is supported");
        }

        if (!root.TryGetProperty("config", out JsonElement configElement))
        {
            throw new InvalidManifestException("invalid manifest: it has no config");
        }

        Descriptor config = ParseDescriptor(configElement, "config");
        if (!root.TryGetProperty("layers", out JsonElement layersElement) || layersElement.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidManifestException("invalid manifest: it has no layers array");
        }

        int count = layersElement.GetArrayLength();
        if (count == 0)
        {
            throw new InvalidManifestException("invalid manifest: it has no layers");
        }

        if (count > 10_000)
        {
            throw new InvalidManifestException($"invalid manifest: {count} layers is more than the 10000 accepted");
        }

        var layers = new List<Descriptor>(count);
        int index = 0;
        foreach (JsonElement layer in layersElement.EnumerateArray())
        {
            layers.Add(ParseDescriptor(layer, $"layer {index++}"));
        }

        return new Manifest(mediaType, config, layers, layers.Prepend(config), []);
    }

    /// <summary>
    /// One view of an index and its parsed children (a mirror keeps them all): <see cref="Blobs"/> holds every
    /// child manifest and then every blob of every child, each digest once.
    /// </summary>
    /// <exception cref="InvalidManifestException">There are no children, a child is itself an index, or one digest has two sizes.</exception>
    public static Manifest ForIndex(string? mediaType, IReadOnlyList<(IndexEntry Entry, Manifest Manifest)> children)
    {
        ArgumentNullException.ThrowIfNull(children);
        if (children.Count == 0)
        {
            throw new InvalidManifestException("invalid index: it lists no manifests");
        }

        if (children.FirstOrDefault(c => c.Manifest.IsIndex) is { Entry: not null } nested)
        {
            throw new InvalidManifestException($"invalid index: its child {nested.Entry.Descriptor.Digest.Short} is an index itself, which regc does not follow");
        }

        IEnumerable<Descriptor> blobs = children.Select(c => c.Entry.Descriptor).Concat(children.SelectMany(c => c.Manifest.Blobs));
        Descriptor[] layers = children.SelectMany(c => c.Manifest.Layers).DistinctBy(l => l.Digest).ToArray();
        return new Manifest(mediaType, children[0].Manifest.Config, layers, blobs, children);
    }

    /// <summary>Each digest once, in order, with the sum of their sizes.</summary>
    private static (IReadOnlyList<Descriptor> Blobs, long Total) Distinct(IEnumerable<Descriptor> descriptors)
    {
        var blobs = new List<Descriptor>();
        var seen = new Dictionary<Digest, long>();
        long total = 0;
        foreach (Descriptor descriptor in descriptors)
        {
            if (seen.TryGetValue(descriptor.Digest, out long size))
            {
                if (size != descriptor.Size)
                {
                    throw new InvalidManifestException(
                        $"invalid manifest: {descriptor.Digest} is listed with sizes {size} and {descriptor.Size}");
                }

                continue;
            }

            seen.Add(descriptor.Digest, descriptor.Size);
            blobs.Add(descriptor);
            try
            {
                total = checked(total + descriptor.Size);
            }
            catch (OverflowException)
            {
                throw new InvalidManifestException("invalid manifest: the layer sizes add up to more than 2^63 bytes");
            }
        }

        return (blobs, total);
    }

    internal static Descriptor ParseDescriptor(JsonElement element, string what)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidManifestException($"invalid manifest: the {what} is not an object");
        }

        string mediaType = ManifestJson.OptionalString(element, "mediaType", what) ?? string.Empty;
        if (!element.TryGetProperty("digest", out JsonElement digestElement) || digestElement.ValueKind != JsonValueKind.String)
        {
            throw new InvalidManifestException($"invalid manifest: the {what} has no digest");
        }

        string digestText = digestElement.GetString()!;
        if (!Digest.TryParse(digestText, out Digest digest))
        {
            throw new InvalidManifestException(
                $"invalid manifest: the {what} has the invalid digest \"{Digest.Printable(digestText)}\" (expected sha256:<64 lower-case hex>)");
        }

        if (!element.TryGetProperty("size", out JsonElement sizeElement) || sizeElement.ValueKind != JsonValueKind.Number)
        {
            throw new InvalidManifestException($"invalid manifest: the {what} ({digest.Short}) has no numeric size");
        }

        if (!sizeElement.TryGetInt64(out long size) || size < 0)
        {
            throw new InvalidManifestException(
                $"invalid manifest: the {what} ({digest.Short}) has the size {Digest.Printable(sizeElement.GetRawText())}, which is not a whole number from 0 to 2^63-1");
        }

        if (size == 0 && digest != s_emptyDigest)
        {
            throw new InvalidManifestException($"invalid manifest: the {what} ({digest.Short}) has size 0 but is not the empty blob");
        }

        return new Descriptor(mediaType, digest, size);
    }
}
