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

    private Manifest(string? mediaType, Descriptor config, IReadOnlyList<Descriptor> layers, IReadOnlyList<Descriptor> blobs, long totalSize)
    {
        MediaType = mediaType;
        Config = config;
        Layers = layers;
        Blobs = blobs;
        TotalSize = totalSize;
    }

    /// <summary>The <c>mediaType</c> field, when the document has one.</summary>
    public string? MediaType { get; }

    /// <summary>The config blob.</summary>
    public Descriptor Config { get; }

    /// <summary>The layers, in manifest order.</summary>
    public IReadOnlyList<Descriptor> Layers { get; }

    /// <summary>Every distinct blob the manifest needs (config first, then layers), each digest once.</summary>
    public IReadOnlyList<Descriptor> Blobs { get; }

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

        var blobs = new List<Descriptor>(count + 1);
        var seen = new Dictionary<Digest, long>();
        long total = 0;
        foreach (Descriptor descriptor in layers.Prepend(config))
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

        return new Manifest(mediaType, config, layers, blobs, total);
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
