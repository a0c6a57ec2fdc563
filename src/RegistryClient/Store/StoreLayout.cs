namespace RegistryClient.Store;

/// <summary>How a store lays out blobs and manifests on disk.</summary>
public enum StoreLayout
{
    /// <summary>Ollama's: <c>blobs/sha256-&lt;hex&gt;</c> and <c>manifests/&lt;host&gt;/&lt;ns&gt;/&lt;model&gt;/&lt;tag&gt;</c> (PROTOCOL §4).</summary>
    Ollama,

    /// <summary>
    /// The OCI image layout (PROTOCOL §5): <c>oci-layout</c>, <c>index.json</c> naming each manifest by the
    /// annotation <c>org.opencontainers.image.ref.name</c> (<c>&lt;namespace&gt;/&lt;model&gt;:&lt;tag&gt;</c>), and
    /// <c>blobs/sha256/&lt;hex&gt;</c> for layers, configs and manifests alike. Read by skopeo, oras and crane.
    /// </summary>
    Oci,
}
