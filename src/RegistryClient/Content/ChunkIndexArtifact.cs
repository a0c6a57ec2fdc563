using System.Buffers;
using System.Text.Json;

namespace RegistryClient.Content;

/// <summary>
/// The chunk index that travels beside a model in a registry without a chunksums endpoint: an OCI 1.1 artifact
/// manifest (<see cref="ArtifactType"/>) whose <c>subject</c> is the model's manifest, with one layer per large blob
/// holding that blob's chunk list in the chunksums text format (see docs/chunk-index.md). Found through the referrers
/// API, or where a registry lacks it, through the referrers tag schema (an index at the tag <c>sha256-&lt;hex&gt;</c>).
/// It is a hint: a puller checks each list against its blob's size, and the whole digest still decides.
/// </summary>
public static class ChunkIndexArtifact
{
    /// <summary>The artifact's type.</summary>
    public const string ArtifactType = "application/vnd.regc.chunksums.v1";

    /// <summary>The media type of a layer holding one blob's chunk list.</summary>
    public const string ListMediaType = "application/vnd.regc.chunksums.v1+text";

    /// <summary>The layer annotation naming the blob a chunk list describes.</summary>
    public const string BlobAnnotation = "org.regc.chunksums.blob";

    /// <summary>The OCI empty descriptor's media type, for the artifact's config.</summary>
    public const string EmptyMediaType = "application/vnd.oci.empty.v1+json";

    /// <summary>The largest artifact manifest or referrers index read.</summary>
    public const int MaxBytes = 4 << 20;

    /// <summary>The OCI empty config blob (<c>{}</c>).</summary>
    public static ReadOnlyMemory<byte> EmptyConfig { get; } = "{}"u8.ToArray();

    /// <summary>The empty config's descriptor.</summary>
    public static Descriptor EmptyConfigDescriptor { get; } = new(EmptyMediaType, Digest.Compute(EmptyConfig.Span), 2);

    /// <summary>The referrers tag of the tag schema for <paramref name="subject"/>: <c>sha256-&lt;hex&gt;</c>.</summary>
    public static string ReferrersTag(Digest subject) => subject.FileName;

    /// <summary>The artifact manifest for <paramref name="subject"/>: each entry a blob and the descriptor of its chunk list's bytes.</summary>
    public static byte[] Build(Descriptor subject, IReadOnlyList<(Digest Blob, Descriptor List)> lists)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(lists);
        return Write(json =>
        {
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", MediaTypes.OciManifest);
            json.WriteString("artifactType", ArtifactType);
            json.WritePropertyName("config");
            WriteDescriptor(json, EmptyConfigDescriptor, null);
            json.WriteStartArray("layers");
            foreach ((Digest blob, Descriptor list) in lists)
            {
                WriteDescriptor(json, list, json =>
                {
                    json.WriteStartObject("annotations");
                    json.WriteString(BlobAnnotation, blob.ToString());
                    json.WriteEndObject();
                });
            }

            json.WriteEndArray();
            json.WritePropertyName("subject");
            WriteDescriptor(json, subject, null);
        });
    }

    /// <summary>
    /// The chunk lists an artifact manifest names, by blob; empty when the bytes are not this artifact for
    /// <paramref name="subject"/> (another type, another subject, not JSON).
    /// </summary>
    public static IReadOnlyDictionary<Digest, Descriptor> ReadLists(ReadOnlySpan<byte> manifest, Digest subject)
    {
        var lists = new Dictionary<Digest, Descriptor>();
        try
        {
            using JsonDocument document = JsonDocument.Parse(manifest.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("artifactType", out JsonElement type) || type.ValueKind != JsonValueKind.String || type.GetString() != ArtifactType
                || !root.TryGetProperty("subject", out JsonElement about) || ReadDescriptor(about) is not { } named || named.Digest != subject
                || !root.TryGetProperty("layers", out JsonElement layers) || layers.ValueKind != JsonValueKind.Array)
            {
                return lists;
            }

            foreach (JsonElement layer in layers.EnumerateArray())
            {
                if (ReadDescriptor(layer) is { MediaType: ListMediaType } list && list.Size <= ChunkList.MaxBodyBytes
                    && layer.TryGetProperty("annotations", out JsonElement annotations) && annotations.ValueKind == JsonValueKind.Object
                    && annotations.TryGetProperty(BlobAnnotation, out JsonElement blob) && blob.ValueKind == JsonValueKind.String
                    && Digest.TryParse(blob.GetString(), out Digest digest))
                {
                    lists.TryAdd(digest, list);
                }
            }
        }
        catch (JsonException)
        {
            // Not an artifact of ours: no lists.
        }

        return lists;
    }

    /// <summary>The descriptors of artifacts of <see cref="ArtifactType"/> in a referrers index (the API's answer or the tag schema's index).</summary>
    public static IReadOnlyList<Descriptor> FindInReferrers(ReadOnlySpan<byte> index)
    {
        var found = new List<Descriptor>();
        try
        {
            using JsonDocument document = JsonDocument.Parse(index.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("manifests", out JsonElement manifests) && manifests.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement entry in manifests.EnumerateArray())
                {
                    if (entry.ValueKind == JsonValueKind.Object
                        && entry.TryGetProperty("artifactType", out JsonElement type) && type.ValueKind == JsonValueKind.String && type.GetString() == ArtifactType
                        && ReadDescriptor(entry) is { } descriptor && descriptor.Size <= MaxBytes)
                    {
                        found.Add(descriptor);
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not an index: nothing found.
        }

        return found;
    }

    /// <summary>
    /// The referrers index of the tag schema with <paramref name="artifact"/> in it: the entries of
    /// <paramref name="existing"/> (null or not an index: none) are kept, except earlier artifacts of this type.
    /// </summary>
    public static byte[] AddToReferrers(ReadOnlySpan<byte> existing, Descriptor artifact)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        var kept = new List<string>();
        try
        {
            if (!existing.IsEmpty)
            {
                using JsonDocument document = JsonDocument.Parse(existing.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
                if (document.RootElement.ValueKind == JsonValueKind.Object
                    && document.RootElement.TryGetProperty("manifests", out JsonElement manifests) && manifests.ValueKind == JsonValueKind.Array)
                {
                    foreach (JsonElement entry in manifests.EnumerateArray())
                    {
                        bool ours = entry.ValueKind == JsonValueKind.Object
                            && entry.TryGetProperty("artifactType", out JsonElement type) && type.ValueKind == JsonValueKind.String && type.GetString() == ArtifactType;
                        if (!ours && entry.ValueKind == JsonValueKind.Object)
                        {
                            kept.Add(entry.GetRawText());
                        }
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not an index: start a new one.
        }

        return Write(json =>
        {
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", MediaTypes.OciIndex);
            json.WriteStartArray("manifests");
            foreach (string raw in kept)
            {
                json.WriteRawValue(raw);
            }

            json.WriteStartObject();
            json.WriteString("mediaType", artifact.MediaType);
            json.WriteString("digest", artifact.Digest.ToString());
            json.WriteNumber("size", artifact.Size);
            json.WriteString("artifactType", ArtifactType);
            json.WriteEndObject();
            json.WriteEndArray();
        });
    }

    private static Descriptor? ReadDescriptor(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object
        && element.TryGetProperty("mediaType", out JsonElement type) && type.ValueKind == JsonValueKind.String
        && element.TryGetProperty("digest", out JsonElement digest) && digest.ValueKind == JsonValueKind.String && Digest.TryParse(digest.GetString(), out Digest parsed)
        && element.TryGetProperty("size", out JsonElement size) && size.ValueKind == JsonValueKind.Number && size.TryGetInt64(out long length) && length >= 0
            ? new Descriptor(type.GetString()!, parsed, length)
            : null;

    private static void WriteDescriptor(Utf8JsonWriter json, Descriptor descriptor, Action<Utf8JsonWriter>? more)
    {
        json.WriteStartObject();
        json.WriteString("mediaType", descriptor.MediaType);
        json.WriteString("digest", descriptor.Digest.ToString());
        json.WriteNumber("size", descriptor.Size);
        more?.Invoke(json);
        json.WriteEndObject();
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
