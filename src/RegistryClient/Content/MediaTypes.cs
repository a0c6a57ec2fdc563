namespace RegistryClient.Content;

/// <summary>Media types of manifests, indexes and Ollama layers.</summary>
public static class MediaTypes
{
    /// <summary>Docker image manifest, schema 2 (what Ollama registries serve).</summary>
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    /// <summary>Docker manifest list (multi-platform).</summary>
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>OCI image manifest.</summary>
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    /// <summary>OCI image index (multi-platform).</summary>
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";

    /// <summary>The config media type of Ollama models.</summary>
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";

    /// <summary>The weights layer of an Ollama model.</summary>
    public const string OllamaModel = "application/vnd.ollama.image.model";

    /// <summary>The chat template layer of an Ollama model.</summary>
    public const string OllamaTemplate = "application/vnd.ollama.image.template";

    /// <summary>The parameters layer of an Ollama model.</summary>
    public const string OllamaParams = "application/vnd.ollama.image.params";

    /// <summary>The license layer of an Ollama model.</summary>
    public const string OllamaLicense = "application/vnd.ollama.image.license";

    /// <summary>The Accept header value sent for manifests: every manifest and index type we read.</summary>
    public static readonly string[] ManifestAccept = [DockerManifest, OciManifest, OciIndex, DockerManifestList];

    /// <summary>True for the index types (OCI index, Docker manifest list).</summary>
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;
}
