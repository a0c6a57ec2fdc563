using Microsoft.Extensions.Logging;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Maintenance;

/// <summary>
/// Mends what <see cref="StoreVerifier"/> found damaged: each corrupt, wrong-sized or missing blob is fetched
/// again from the registry of a manifest that names it. Nothing changes on disk until every such registry has been
/// reached and has the blob. A corrupt blob of the right size is then moved aside as a partial download, so where
/// the registry offers chunk digests only the chunks that fail are downloaded; otherwise the whole blob is.
/// Manifests are never rewritten. Immutable; safe to share.
/// </summary>
public sealed class StoreRepairer
{
    private readonly RemoteRegistry _registry;
    private readonly ModelStore _store;
    private readonly ModelPuller _puller;

    /// <summary>Creates a repairer that fetches through <paramref name="registry"/> with <paramref name="options"/>.</summary>
    public StoreRepairer(RemoteRegistry registry, ModelStore store, PullOptions? options = null, ILogger<ModelPuller>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(store);
        _registry = registry;
        _store = store;
        _puller = new ModelPuller(registry, store, options, logger);
    }

    /// <summary>
    /// Repairs the damaged blobs of <paramref name="report"/>; returns what was fetched. Blobs no manifest names,
    /// and bad manifests, are left for the caller to report.
    /// </summary>
    /// <exception cref="RegistryResponseException">A registry kept answering with errors.</exception>
    /// <exception cref="DigestMismatchException">A blob did not match its digest; nothing of it was stored.</exception>
    /// <exception cref="StoreException">The store is not writable or is full.</exception>
    /// <param name="report">What <see cref="StoreVerifier"/> found.</param>
    /// <param name="progress">Receives the fetches' progress, as a pull's; null means none.</param>
    /// <param name="cancellationToken">Cancels the repair; what was fetched and verified stays.</param>
    public async Task<PullResult> RepairAsync(VerifyReport report, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        var damaged = report.Findings
            .Where(f => f is { Kind: FindingKind.Corrupt or FindingKind.WrongSize or FindingKind.Missing, Digest: not null })
            .Select(f => f.Digest!.Value)
            .ToHashSet();
        var sources = new List<(ModelName Source, Descriptor Blob)>();
        var found = new HashSet<Digest>();
        foreach ((StoredManifest stored, Manifest? manifest, _, _) in _store.ReadManifests().OrderBy(m => m.Stored.Name.Key, StringComparer.Ordinal))
        {
            // A bad manifest is the verifier's to report; an index's child manifests were checked by reading it.
            foreach (Descriptor blob in manifest?.Blobs ?? [])
            {
                if (damaged.Contains(blob.Digest) && !manifest!.IsChild(blob.Digest) && found.Add(blob.Digest))
                {
                    sources.Add((stored.Name, blob));
                }
            }
        }

        // A damaged blob is still the best copy there is: it stays in place until its registry is known to serve the
        // replacement. A repair that cannot reach a registry fails here, before anything on disk changed.
        foreach ((ModelName source, Descriptor blob) in sources)
        {
            await _registry.ProbeBlobAsync(source, blob, cancellationToken).ConfigureAwait(false);
        }

        foreach ((ModelName _, Descriptor blob) in sources)
        {
            if (_store.GetBlobSize(blob.Digest) is { } size)
            {
                if (size == blob.Size)
                {
                    PartialBlob.SetAsideDamaged(_store, blob.Digest); // its good chunks are kept
                }
                else
                {
                    File.Delete(_store.GetBlobPath(blob.Digest));
                }
            }
        }

        return await _puller.FetchBlobsAsync(sources, progress, cancellationToken).ConfigureAwait(false);
    }
}
