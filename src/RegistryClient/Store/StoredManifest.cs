using RegistryClient.Names;

namespace RegistryClient.Store;

/// <summary>A manifest file found in a store.</summary>
/// <param name="Name">The model name its path spells (host, namespace, model, tag).</param>
/// <param name="Path">The file's full path.</param>
/// <param name="Modified">When the file was last written (UTC).</param>
public sealed record StoredManifest(ModelName Name, string Path, DateTime Modified);
