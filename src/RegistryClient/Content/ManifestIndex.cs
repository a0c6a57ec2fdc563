using System.Runtime.InteropServices;
using System.Text.Json;

namespace RegistryClient.Content;

/// <summary>An OCI image index or Docker manifest list: child manifests, each for a platform.</summary>
public sealed class ManifestIndex
{
    /// <summary>The most children an index may list.</summary>
    public const int MaxEntries = 1000;

    private ManifestIndex(string? mediaType, IReadOnlyList<IndexEntry> entries)
    {
        MediaType = mediaType;
        Entries = entries;
    }

    /// <summary>The <c>mediaType</c> field, when the document has one.</summary>
    public string? MediaType { get; }

    /// <summary>The child manifests, in document order.</summary>
    public IReadOnlyList<IndexEntry> Entries { get; }

    /// <summary>True when the bytes are an index (by media type, or by a <c>manifests</c> array).</summary>
    /// <exception cref="InvalidManifestException">The bytes are not a JSON object.</exception>
    public static bool IsIndex(ReadOnlySpan<byte> json, string? contentType)
    {
        if (MediaTypes.IsIndex(contentType))
        {
            return true;
        }

        using JsonDocument document = ManifestJson.Open(json);
        return MediaTypes.IsIndex(ManifestJson.OptionalString(document.RootElement, "mediaType", "manifest"))
            || document.RootElement.TryGetProperty("manifests", out _);
    }

    /// <summary>Parses and validates an index.</summary>
    /// <exception cref="InvalidManifestException">The document is not a valid index.</exception>
    public static ManifestIndex Parse(ReadOnlySpan<byte> json)
    {
        using JsonDocument document = ManifestJson.Open(json);
        if (!document.RootElement.TryGetProperty("manifests", out JsonElement manifests) || manifests.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidManifestException("invalid index: it has no manifests array");
        }

        if (manifests.GetArrayLength() > MaxEntries)
        {
            throw new InvalidManifestException($"invalid index: {manifests.GetArrayLength()} manifests is more than the {MaxEntries} accepted");
        }

        var entries = new List<IndexEntry>();
        int index = 0;
        foreach (JsonElement element in manifests.EnumerateArray())
        {
            string what = $"manifest {index++} of the index";
            Descriptor descriptor = Manifest.ParseDescriptor(element, what);
            string? os = null;
            string? architecture = null;
            string? variant = null;
            if (element.TryGetProperty("platform", out JsonElement platform) && platform.ValueKind == JsonValueKind.Object)
            {
                os = ManifestJson.OptionalString(platform, "os", what);
                architecture = ManifestJson.OptionalString(platform, "architecture", what);
                variant = ManifestJson.OptionalString(platform, "variant", what);
            }

            entries.Add(new IndexEntry(descriptor, os, architecture, variant));
        }

        if (entries.Count == 0)
        {
            throw new InvalidManifestException("invalid index: it lists no manifests");
        }

        return new ManifestIndex(ManifestJson.OptionalString(document.RootElement, "mediaType", "index"), entries);
    }

    /// <summary>
    /// The entry for <paramref name="platform"/> (<c>os/arch[/variant]</c>), or for this machine when null;
    /// an index with one entry gives that entry.
    /// </summary>
    /// <exception cref="InvalidManifestException">No entry matches; the message lists the platforms there are.</exception>
    public IndexEntry Select(string? platform)
    {
        if (platform is null && Entries.Count == 1)
        {
            return Entries[0];
        }

        string wanted = platform ?? $"linux/{CurrentArchitecture()}";
        foreach (IndexEntry entry in Entries)
        {
            if (entry.Matches(wanted))
            {
                return entry;
            }
        }

        string available = string.Join(", ", Entries.Select(e => e.Platform));
        throw new InvalidManifestException($"the index has no manifest for {wanted} (it has: {available}); choose one with --platform");
    }

    private static string CurrentArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm",
        Architecture.X86 => "386",
        var other => other.ToString().ToLowerInvariant(),
    };
}
