using System.Text;
using System.Text.Json;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Cli.Samples;

/// <summary>Builds deterministic Ollama-style models (config, weights and small text layers) into a store.</summary>
internal static class SampleModel
{
    /// <summary>
    /// Writes a model into <paramref name="store"/>: a config, one layer per entry of <paramref name="layerSizes"/>
    /// (the first is the weights, media type <c>application/vnd.ollama.image.model</c>, the rest template, params,
    /// license…), and its manifest under <paramref name="name"/>. The same arguments give the same bytes.
    /// </summary>
    /// <returns>The manifest bytes.</returns>
    public static async Task<byte[]> CreateAsync(ModelStore store, ModelName name, IReadOnlyList<long> layerSizes, ulong seed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(layerSizes);
        store.EnsureWritable();
        string[] layerTypes = [MediaTypes.OllamaModel, MediaTypes.OllamaTemplate, MediaTypes.OllamaParams, MediaTypes.OllamaLicense];
        var layers = new List<Descriptor>();
        for (int i = 0; i < layerSizes.Count; i++)
        {
            using var data = new SampleDataStream(seed + (ulong)i, layerSizes[i]);
            string type = layerTypes[Math.Min(i, layerTypes.Length - 1)];
            layers.Add(await store.ImportBlobAsync(data, type, cancellationToken).ConfigureAwait(false));
        }

        byte[] config = Encoding.UTF8.GetBytes(
            $"{{\"model_format\":\"gguf\",\"model_family\":\"sample\",\"file_type\":\"F16\",\"seed\":{seed},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[]}}}}");
        using var configStream = new MemoryStream(config);
        Descriptor configDescriptor = await store.ImportBlobAsync(configStream, MediaTypes.DockerConfig, cancellationToken).ConfigureAwait(false);
        byte[] manifest = BuildManifest(configDescriptor, layers);
        await store.WriteManifestAsync(name, manifest, cancellationToken).ConfigureAwait(false);
        return manifest;
    }

    /// <summary>The Docker v2 schema 2 manifest for a config and layers, as Ollama's registry writes it.</summary>
    public static byte[] BuildManifest(Descriptor config, IEnumerable<Descriptor> layers)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(layers);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", MediaTypes.DockerManifest);
            json.WritePropertyName("config");
            WriteDescriptor(json, config);
            json.WriteStartArray("layers");
            foreach (Descriptor layer in layers)
            {
                WriteDescriptor(json, layer);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void WriteDescriptor(Utf8JsonWriter json, Descriptor descriptor)
    {
        json.WriteStartObject();
        json.WriteString("mediaType", descriptor.MediaType);
        json.WriteString("digest", descriptor.Digest.ToString());
        json.WriteNumber("size", descriptor.Size);
        json.WriteEndObject();
    }
}
