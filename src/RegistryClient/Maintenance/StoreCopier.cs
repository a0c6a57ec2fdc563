using System.Diagnostics;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Maintenance;

/// <summary>
/// Copies models from one local store to another, either layout to either layout, with no network: to carry
/// models to an air-gapped machine and mirror them there. Every blob is hashed while it is copied and committed
/// only when it matches its digest, so a damaged source never spreads; each manifest is written after all of its
/// blobs. Blobs already in the target are not copied again. Immutable; safe to share.
/// </summary>
public sealed class StoreCopier
{
    private readonly ModelStore _source;
    private readonly ModelStore _target;
    private readonly int _parallelism;

    /// <summary>Creates a copier from <paramref name="source"/> to <paramref name="target"/>.</summary>
    /// <param name="source">The store to read.</param>
    /// <param name="target">The store to write.</param>
    /// <param name="parallelism">Blobs copied at once; 0 means one per core.</param>
    public StoreCopier(ModelStore source, ModelStore target, int parallelism = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfNegative(parallelism);
        _source = source;
        _target = target;
        _parallelism = parallelism == 0 ? Environment.ProcessorCount : parallelism;
    }

    /// <summary>
    /// Finds a model in the source. A reference is a model name (<c>llama3.2</c>, <c>host/ns/model:tag</c>; the
    /// host is matched when the source holds that model under several hosts) or, in an OCI layout, a ref name
    /// (<c>library/llama3.2:latest</c>) or a bare tag that names one manifest.
    /// </summary>
    /// <exception cref="ModelNotInStoreException">The source has no such model.</exception>
    public StoredManifest Find(string reference)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        StoredManifest[] all = _source.ListManifests().ToArray();
        if (_source.FindByLayoutReference(reference) is { } named)
        {
            return all.First(m => m.Name.Key == named.Key);
        }

        if (ModelName.TryParse(reference, out ModelName? name, out _))
        {
            bool hostGiven = reference.Contains('/', StringComparison.Ordinal) && reference.Split('/').Length == 3;
            StoredManifest? match = all.FirstOrDefault(m => m.Name.Key == name.Key)
                ?? (hostGiven ? null : all.Where(m => SameRepositoryAndTag(m.Name, name)).OrderBy(m => m.Name.Key, StringComparer.Ordinal).FirstOrDefault());
            if (match is not null)
            {
                return match;
            }
        }

        throw new ModelNotInStoreException($"{reference} is not in {_source.Root} ({all.Length} model(s) there; regc list --models {_source.Root} shows them)");
    }

    /// <summary>
    /// Copies the models named by <paramref name="references"/> (all models of the source when empty); returns
    /// what was copied, in the shape of a pull's result.
    /// </summary>
    /// <exception cref="ModelNotInStoreException">A model is not in the source.</exception>
    /// <exception cref="DigestMismatchException">A source blob is damaged; nothing of it was stored.</exception>
    /// <exception cref="StoreException">The target is not writable, or the source lacks a blob.</exception>
    public async Task<PullResult> CopyAsync(IReadOnlyList<string> references, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(references);
        long started = Stopwatch.GetTimestamp();
        StoredManifest[] chosen = references.Count == 0
            ? _source.ListManifests().ToArray()
            : references.Select(Find).DistinctBy(m => m.Name.Key).ToArray();
        _target.EnsureWritable();

        var models = new List<PulledModel>();
        var blobs = new Dictionary<Digest, Descriptor>();
        foreach (StoredManifest stored in chosen)
        {
            (_, Manifest? manifest, byte[]? bytes, string? error) = _source.ReadManifest(stored);
            if (manifest is null || bytes is null)
            {
                throw new InvalidManifestException($"the manifest of {stored.Name.DisplayName} in {_source.Root} cannot be read: {error}");
            }

            models.Add(new PulledModel(stored.Name, Digest.Compute(bytes), manifest) { Bytes = bytes });
            foreach (Descriptor blob in manifest.Blobs)
            {
                blobs.TryAdd(blob.Digest, blob);
            }
        }

        Descriptor[] toCopy = blobs.Values.Where(b => _target.GetBlobSize(b.Digest) != b.Size).ToArray();
        long copied = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(toCopy.OrderByDescending(b => b.Size), parallel, async (blob, token) =>
        {
            string path = _source.GetBlobPath(blob.Digest);
            if (_source.GetBlobSize(blob.Digest) != blob.Size)
            {
                throw new StoreException($"{_source.Root} lacks {blob.Digest} ({ByteSize.Format(blob.Size)}), or holds it with another size; run regc verify on it");
            }

            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (stream.ConfigureAwait(false))
            {
                await _target.ImportBlobAsync(stream, blob, token).ConfigureAwait(false);
            }

            Interlocked.Add(ref copied, blob.Size);
        }).ConfigureAwait(false);

        foreach (PulledModel model in models)
        {
            await _target.WriteManifestAsync(model.Name, model.Bytes, cancellationToken).ConfigureAwait(false);
        }

        long present = blobs.Values.Sum(b => b.Size) - copied;
        return new PullResult(models, toCopy.Length, blobs.Count - toCopy.Length, copied, present, Stopwatch.GetElapsedTime(started));
    }

    private static bool SameRepositoryAndTag(ModelName a, ModelName b) =>
        string.Equals(a.Repository, b.Repository, StringComparison.OrdinalIgnoreCase) && string.Equals(a.Tag, b.Tag, StringComparison.OrdinalIgnoreCase);
}
