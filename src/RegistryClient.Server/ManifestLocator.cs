using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Server;

/// <summary>
/// Finds manifests in a store for a repository that may exist under several upstream hosts
/// (<c>manifests/&lt;host&gt;/&lt;ns&gt;/&lt;model&gt;/&lt;tag&gt;</c>). The host chosen is the configured upstream, else
/// <c>registry.ollama.ai</c>, else the first in ordinal order.
/// </summary>
internal sealed class ManifestLocator
{
    private readonly ModelStore _store;
    private readonly string? _upstream;

    public ManifestLocator(ModelStore store, string? upstream)
    {
        _store = store;
        _upstream = upstream?.ToLowerInvariant();
    }

    /// <summary>The manifest file for a tag, or null.</summary>
    public string? FindByTag(ModelName name)
    {
        foreach (string host in HostsInPreferenceOrder())
        {
            string file = _store.GetManifestPath(WithHost(name, host));
            if (IsRegularFile(file))
            {
                return file;
            }
        }

        return null;
    }

    /// <summary>
    /// The manifest file of the repository whose bytes hash to <paramref name="digest"/>: a tagged manifest, or
    /// the blob of a child manifest that one of the repository's indexes names (a mirror keeps those as blobs).
    /// Null when there is none.
    /// </summary>
    public string? FindByDigest(ModelName repository, Digest digest)
    {
        bool named = false;
        foreach (string host in HostsInPreferenceOrder())
        {
            string directory = Path.GetDirectoryName(_store.GetManifestPath(WithHost(repository, host)))!;
            if (!Directory.Exists(directory) || new DirectoryInfo(directory).LinkTarget is not null)
            {
                continue;
            }

            foreach (string file in Directory.EnumerateFiles(directory))
            {
                var info = new FileInfo(file);
                if (info.LinkTarget is not null || info.Length > ModelStore.MaxManifestBytes)
                {
                    continue;
                }

                byte[] bytes = File.ReadAllBytes(file);
                if (Digest.Compute(bytes) == digest)
                {
                    return file;
                }

                named |= NamesChild(bytes, digest);
            }
        }

        string blob = _store.GetBlobPath(digest);
        return named && _store.GetBlobSize(digest) is <= ModelStore.MaxManifestBytes && Digest.Compute(File.ReadAllBytes(blob)) == digest ? blob : null;
    }

    private static bool NamesChild(byte[] bytes, Digest digest)
    {
        try
        {
            return ManifestIndex.IsIndex(bytes, null) && ManifestIndex.Parse(bytes).Entries.Any(e => e.Descriptor.Digest == digest);
        }
        catch (InvalidManifestException)
        {
            return false; // Not an index we can read: it names nothing.
        }
    }

    /// <summary>The tags of a repository under the preferred host that has it, sorted.</summary>
    public List<string> Tags(ModelName repository)
    {
        foreach (string host in HostsInPreferenceOrder())
        {
            string directory = Path.GetDirectoryName(_store.GetManifestPath(WithHost(repository, host)))!;
            if (Directory.Exists(directory) && new DirectoryInfo(directory).LinkTarget is null)
            {
                List<string> tags = Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>()
                    .Where(t => ModelName.TryParse($"{repository.Namespace}/{repository.Model}:{t}", out _, out _))
                    .Order(StringComparer.Ordinal).ToList();
                if (tags.Count > 0)
                {
                    return tags;
                }
            }
        }

        return [];
    }

    /// <summary>Every <c>namespace/model</c> with at least one manifest, sorted and distinct.</summary>
    public List<string> Repositories() =>
        _store.ListManifests().Select(m => m.Name.Repository.ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal).ToList();

    private IEnumerable<string> HostsInPreferenceOrder()
    {
        if (!Directory.Exists(_store.ManifestsDirectory))
        {
            return [];
        }

        List<string> hosts = Directory.EnumerateDirectories(_store.ManifestsDirectory)
            .Where(d => new DirectoryInfo(d).LinkTarget is null)
            .Select(Path.GetFileName).OfType<string>()
            .Order(StringComparer.Ordinal).ToList();
        var preferred = new List<string>();
        foreach (string? first in new[] { _upstream, ModelName.DefaultHost })
        {
            if (first is not null && hosts.Remove(first))
            {
                preferred.Add(first);
            }
        }

        return preferred.Concat(hosts);
    }

    /// <summary>Where a pushed tag is written: under the host this locator prefers, so it is what the server then serves.</summary>
    public ModelName ForPush(ModelName tagged) => WithHost(tagged, _upstream ?? ModelName.DefaultHost);

    private static ModelName WithHost(ModelName name, string host) =>
        ModelName.Parse($"{host}/{name.Namespace}/{name.Model}:{name.Tag}");

    private static bool IsRegularFile(string path)
    {
        var info = new FileInfo(path);
        return info.Exists && info.LinkTarget is null;
    }
}
