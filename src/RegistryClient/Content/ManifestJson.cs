using System.Text.Json;

namespace RegistryClient.Content;

/// <summary>Shared JSON reading for manifests and indexes: bounded depth, clear errors.</summary>
internal static class ManifestJson
{
    public static JsonDocument Open(ReadOnlySpan<byte> json)
    {
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new InvalidManifestException($"invalid manifest: not valid JSON ({e.Message.Split('.')[0]})", e);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new InvalidManifestException("invalid manifest: the document is not a JSON object");
        }

        return document;
    }

    public static string? OptionalString(JsonElement element, string property, string what)
    {
        if (!element.TryGetProperty(property, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidManifestException($"invalid manifest: the {property} of the {what} is not a string");
        }

        string text = value.GetString()!;
        if (text.Length > 255)
        {
            throw new InvalidManifestException($"invalid manifest: the {property} of the {what} is longer than 255 characters");
        }

        return text;
    }
}
