using RegistryClient.Content;
using RegistryClient.Store;

namespace RegistryClient.Maintenance;

/// <summary>One file <see cref="StorePruner"/> would remove, and why.</summary>
/// <param name="Path">The file.</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="Reason">Why it can go, in a few words.</param>
public sealed record PruneItem(string Path, long Size, string Reason);

/// <summary>
/// Finds what a store no longer needs: blobs no manifest names, partial downloads whose owner is gone and that were
/// not touched for <see cref="StalePartialAge"/>, markers, owner records and claims left without their partial,
/// chunk digest sidecars of blobs no longer present, and old temporary files. Never a partial (or its companions)
/// whose owner lives; orphaned blobs are all kept while any pull in the store is running (a pull commits its
/// blobs before it writes the manifest that names them), and so is any orphan younger than
/// <see cref="RecentBlobAge"/>. Files it does not know (strays in <c>blobs/</c>, Ollama's own partial files) are
/// left alone.
/// </summary>
public sealed class StorePruner
{
    /// <summary>A partial whose owner is gone is kept this long after its last write, for a pull to resume.</summary>
    public static readonly TimeSpan StalePartialAge = TimeSpan.FromDays(1);

    /// <summary>An orphaned blob this young is kept (a pull that found it may be about to write its manifest).</summary>
    public static readonly TimeSpan RecentBlobAge = TimeSpan.FromMinutes(10);

    private static readonly TimeSpan s_staleTempAge = TimeSpan.FromHours(1);

    private readonly ModelStore _store;

    /// <summary>Creates a pruner for <paramref name="store"/>.</summary>
    public StorePruner(ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
    }

    /// <summary>Set after <see cref="Plan"/> when a running pull kept orphaned blobs from being listed.</summary>
    public bool PullRunning { get; private set; }

    /// <summary>What would be removed; the store is not changed.</summary>
    /// <exception cref="InvalidManifestException">A manifest cannot be parsed (its blobs would look orphaned); nothing is planned.</exception>
    public IReadOnlyList<PruneItem> Plan()
    {
        var items = new List<PruneItem>();
        DateTime now = DateTime.UtcNow;
        PullRunning = PlanPartials(items, now);

        var referenced = new HashSet<Digest>();
        foreach ((StoredManifest stored, Manifest? manifest, _, string? error) in _store.ReadManifests())
        {
            if (manifest is null)
            {
                throw new InvalidManifestException($"{stored.Path} cannot be read ({error}); fix or remove it (regc rm) before pruning, or its blobs would look unused");
            }

            referenced.UnionWith(manifest.Blobs.Select(b => b.Digest));
            if (_store.ManifestsAreBlobs && _store.TryParseBlobFileName(Path.GetFileName(stored.Path), out Digest self))
            {
                referenced.Add(self);
            }
        }

        var present = new HashSet<Digest>();
        var pruned = new HashSet<Digest>();
        if (Directory.Exists(_store.BlobsDirectory))
        {
            foreach (string path in Directory.EnumerateFiles(_store.BlobsDirectory))
            {
                var info = new FileInfo(path);
                if (info.LinkTarget is not null || !_store.TryParseBlobFileName(info.Name, out Digest digest))
                {
                    continue;
                }

                present.Add(digest);
                if (!referenced.Contains(digest) && !PullRunning && now - info.LastWriteTimeUtc > RecentBlobAge)
                {
                    items.Add(new PruneItem(path, info.Length, "blob no manifest names"));
                    pruned.Add(digest);
                }
            }
        }

        foreach (string path in Files(_store.ChunkSumsDirectory, "*").Concat(Files(_store.FingerprintsDirectory, "*")))
        {
            string name = Path.GetFileName(path);
            if (name.Length < 71 || !Digest.TryParseFileName(name.AsSpan(0, 71), out Digest digest) || !present.Contains(digest) || pruned.Contains(digest))
            {
                items.Add(new PruneItem(path, Size(path), "chunk digests or fingerprints of a blob not in the store"));
            }
        }

        foreach (string path in Files(_store.TempDirectory, "*"))
        {
            if (now - File.GetLastWriteTimeUtc(path) > s_staleTempAge)
            {
                items.Add(new PruneItem(path, Size(path), "temporary file left by an interrupted write"));
            }
        }

        return items;
    }

    /// <summary>
    /// Removes a model: its manifest, then the blobs no other manifest names (as <c>ollama rm</c> does), unless a
    /// pull in the store is running; returns the files removed.
    /// </summary>
    /// <exception cref="ModelNotInStoreException">The store has no such model.</exception>
    public async Task<IReadOnlyList<PruneItem>> RemoveModelAsync(Names.ModelName name, CancellationToken cancellationToken = default)
    {
        StoredManifest stored = _store.FindManifest(name);
        // Read before the manifest goes: an index's children are read through it.
        (_, Manifest? manifest, byte[]? bytes, _) = _store.ReadManifest(stored);
        var removed = new List<PruneItem> { new(stored.Path, bytes?.Length ?? Size(stored.Path), "manifest") };
        await _store.DeleteManifestAsync(stored.Name, cancellationToken).ConfigureAwait(false);
        if (manifest is null || bytes is null)
        {
            return removed; // A broken manifest names no blobs we can trust; prune finds its orphans later.
        }

        var stillUsed = new HashSet<Digest>();
        foreach ((_, Manifest? other, _, _) in _store.ReadManifests())
        {
            if (other is null)
            {
                return removed; // Unknown what it names: keep every blob.
            }

            stillUsed.UnionWith(other.Blobs.Select(b => b.Digest));
        }

        PullRunning = PlanPartials([], DateTime.UtcNow);
        if (PullRunning)
        {
            return removed;
        }

        var unused = manifest.Blobs.Select(b => b.Digest).Distinct().Where(d => !stillUsed.Contains(d)).ToList();
        if (_store.ManifestsAreBlobs && !stillUsed.Contains(Digest.Compute(bytes)))
        {
            unused.Add(Digest.Compute(bytes));
        }

        foreach (Digest digest in unused)
        {
            foreach (string path in _store.GetSidecarFiles(digest).Prepend(_store.GetBlobPath(digest)).Where(File.Exists))
            {
                removed.Add(new PruneItem(path, Size(path), "no longer used"));
                File.Delete(path);
            }
        }

        return removed;
    }

    /// <summary>Removes the planned files; returns the bytes freed. A file that is gone already is skipped.</summary>
    public static long Apply(IEnumerable<PruneItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        long freed = 0;
        foreach (PruneItem item in items)
        {
            if (File.Exists(item.Path))
            {
                File.Delete(item.Path);
                freed += item.Size;
            }
        }

        return freed;
    }

    /// <summary>Plans the removal of stale partials and leftover companions; true when a live pull owns a partial or a claim.</summary>
    private bool PlanPartials(List<PruneItem> items, DateTime now)
    {
        bool live = false;
        string[] files = Files(_store.PartialDirectory, "*").ToArray();
        var partials = files.Where(StateFiles.IsPartial).ToHashSet(StringComparer.Ordinal);
        foreach (string partial in partials)
        {
            if (PartialOwner.IsAlive(StateFiles.Owner(partial), partial))
            {
                live = true;
            }
            else if (now - File.GetLastWriteTimeUtc(partial) > StalePartialAge)
            {
                foreach (string companion in new[] { partial, StateFiles.Journal(partial), StateFiles.Owner(partial) }.Where(File.Exists))
                {
                    items.Add(new PruneItem(companion, Size(companion), $"partial download untouched for over {StalePartialAge.TotalHours:0} h, its pull gone"));
                }
            }
        }

        foreach (string file in files)
        {
            string extension = Path.GetExtension(file);
            if (extension is StateFiles.JournalExtension or StateFiles.OwnerExtension
                && !partials.Contains(Path.ChangeExtension(file, StateFiles.PartialExtension)) && now - File.GetLastWriteTimeUtc(file) > s_staleTempAge)
            {
                items.Add(new PruneItem(file, Size(file), "resume record without its partial file"));
            }
            else if (extension == StateFiles.ClaimExtension)
            {
                if (PartialOwner.IsAlive(file, file))
                {
                    live = true;
                }
                else
                {
                    items.Add(new PruneItem(file, Size(file), "claim of a pull that is gone"));
                }
            }
        }

        return live;
    }

    private static IEnumerable<string> Files(string directory, string pattern) =>
        Directory.Exists(directory) ? Directory.EnumerateFiles(directory, pattern) : [];

    private static long Size(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }
}
