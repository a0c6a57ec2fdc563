using System.Text.Json;
using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Store;

/// <summary>
/// The <c>index.json</c> of an OCI image layout: reads the tagged manifests and adds or removes one, keeping every
/// other entry (and its fields) as it was. Writes are atomic (temporary file and rename) and serialised within
/// this process.
/// </summary>
internal static class OciIndex
{
    /// <summary>The annotation that names a manifest in an OCI layout.</summary>
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    /// <summary>The full model name (host included) this project records beside the ref name.</summary>
    public const string ModelNameAnnotation = "io.github.regc.model";

    public const string LayoutFileName = "oci-layout";

    public const string IndexFileName = "index.json";

    private const int MaxIndexBytes = 16 << 20;

    private static readonly SemaphoreSlim s_writeGate = new(1, 1);

    /// <summary>The ref name a model gets in a layout: <c>&lt;namespace&gt;/&lt;model&gt;:&lt;tag&gt;</c>, lower-case.</summary>
    public static string RefName(ModelName name) => $"{name.Namespace}/{name.Model}:{name.Tag}".ToLowerInvariant();

    /// <summary>The tagged manifests of the layout: ref name, model name, descriptor.</summary>
    /// <exception cref="StoreException">index.json is unreadable or malformed.</exception>
    public static List<(string RefName, ModelName Name, Descriptor Manifest)> Read(ModelStore store)
    {
        string path = Path.Combine(store.Root, IndexFileName);
        List<(string, ModelName, Descriptor)> found = [];
        if (!File.Exists(path))
        {
            return found;
        }

        using JsonDocument document = Open(path);
        foreach (JsonElement entry in Entries(document))
        {
            if (!TryRefName(entry, out string? refName))
            {
                continue;
            }

            Descriptor descriptor;
            try
            {
                descriptor = Manifest.ParseDescriptor(entry, $"the entry {refName} of {path}");
            }
            catch (InvalidManifestException)
            {
                continue;
            }

            string? full = entry.TryGetProperty("annotations", out JsonElement annotations) && annotations.TryGetProperty(ModelNameAnnotation, out JsonElement model) && model.ValueKind == JsonValueKind.String
                ? model.GetString()
                : null;
            if ((full is not null && ModelName.TryParse(full, out ModelName? name, out _)) || ModelName.TryParse(refName, out name, out _))
            {
                found.Add((refName, name, descriptor));
            }
        }

        return found;
    }

    /// <summary>Points <paramref name="name"/>'s ref name at a manifest already in the layout's blobs.</summary>
    public static async Task SetAsync(ModelStore store, ModelName name, Descriptor manifest, CancellationToken cancellationToken)
    {
        string refName = RefName(name);
        await UpdateAsync(store, refName, writer =>
        {
            writer.WriteStartObject();

            // containers/image (skopeo) looks only at OCI media types in a layout's index; a Docker schema 2
            // manifest (or manifest list) has the same structure as an OCI manifest (or index), so its entry is typed
            // as the OCI one (its bytes stay as served).
            string mediaType = manifest.MediaType switch
            {
                MediaTypes.DockerManifest => MediaTypes.OciManifest,
                MediaTypes.DockerManifestList => MediaTypes.OciIndex,
                var other => other,
            };
            writer.WriteString("mediaType", mediaType);
            writer.WriteString("digest", manifest.Digest.ToString());
            writer.WriteNumber("size", manifest.Size);
            writer.WriteStartObject("annotations");
            writer.WriteString(RefNameAnnotation, refName);
            writer.WriteString(ModelNameAnnotation, name.DisplayName);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes the entry of <paramref name="name"/>; true when there was one.</summary>
    public static async Task<bool> RemoveAsync(ModelStore store, ModelName name, CancellationToken cancellationToken)
    {
        string refName = RefName(name);
        bool present = Read(store).Any(e => e.RefName == refName);
        if (present)
        {
            await UpdateAsync(store, refName, null, cancellationToken).ConfigureAwait(false);
        }

        return present;
    }

    /// <summary>Writes <c>oci-layout</c> when it is missing.</summary>
    public static async Task EnsureLayoutFileAsync(ModelStore store, CancellationToken cancellationToken)
    {
        string path = Path.Combine(store.Root, LayoutFileName);
        if (!File.Exists(path))
        {
            await store.WriteAtomicallyAsync(path, """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task UpdateAsync(ModelStore store, string refName, Action<Utf8JsonWriter>? writeNew, CancellationToken cancellationToken)
    {
        string path = Path.Combine(store.Root, IndexFileName);
        await s_writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                writer.WriteStartObject();
                writer.WriteNumber("schemaVersion", 2);
                writer.WriteString("mediaType", MediaTypes.OciIndex);
                writer.WriteStartArray("manifests");
                if (File.Exists(path))
                {
                    using JsonDocument document = Open(path);
                    foreach (JsonElement entry in Entries(document))
                    {
                        if (!TryRefName(entry, out string? existing) || existing != refName)
                        {
                            entry.WriteTo(writer);
                        }
                    }
                }

                writeNew?.Invoke(writer);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            await store.WriteAtomicallyAsync(path, buffer.ToArray(), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            s_writeGate.Release();
        }
    }

    private static JsonDocument Open(string path)
    {
        var info = new FileInfo(path);
        if (info.Length > MaxIndexBytes)
        {
            throw new StoreException($"{path} is larger than {MaxIndexBytes >> 20} MiB");
        }

        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new StoreException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    private static IEnumerable<JsonElement> Entries(JsonDocument document) =>
        document.RootElement.ValueKind == JsonValueKind.Object
        && document.RootElement.TryGetProperty("manifests", out JsonElement manifests)
        && manifests.ValueKind == JsonValueKind.Array
            ? manifests.EnumerateArray()
            : [];

    private static bool TryRefName(JsonElement entry, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? refName)
    {
        refName = entry.ValueKind == JsonValueKind.Object
            && entry.TryGetProperty("annotations", out JsonElement annotations)
            && annotations.ValueKind == JsonValueKind.Object
            && annotations.TryGetProperty(RefNameAnnotation, out JsonElement value)
            && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        return refName is not null;
    }
}
