using Microsoft.Extensions.Logging;
using RegistryClient.Maintenance;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient;

/// <summary>
/// The one object an application needs to pull models into an Ollama-compatible store, mirror them, and verify, repair,
/// prune and list the store: what <c>regc</c> does, in one call each. Every blob is verified while it arrives and only
/// verified blobs reach <c>blobs/</c>; an interrupted call resumes without fetching verified bytes again.
/// </summary>
/// <example>
/// <code>
/// using var client = new ModelClient(new ModelClientOptions { ModelsDirectory = "/srv/models" });
/// PullResult pulled = await client.PullAsync("llama3.2", new Progress&lt;PullProgress&gt;(p => Console.WriteLine(p)), cancellationToken);
/// </code>
/// </example>
/// <remarks>
/// Thread-safe: calls may run at once (they share one worker pool setting, not one pool). Progress is per call.
/// Constructed without DI it owns an <see cref="HttpClient"/> and disposes it; from
/// <c>services.AddRegistryClient(o => ...)</c> the container's clients are used.
/// </remarks>
public sealed class ModelClient : IDisposable
{
    private readonly HttpClient? _ownedHttp;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly ModelClientOptions _options;

    /// <summary>Creates a client with its own HTTP connections.</summary>
    /// <param name="options">Options; null means the defaults (the store and credentials <c>regc</c> would use).</param>
    /// <param name="loggerFactory">Where logs go (Debug: each request and retry); null means none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    /// <exception cref="StoreException">No store is given and the home folder is unknown.</exception>
    public ModelClient(ModelClientOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        _options = options ?? new ModelClientOptions();
        _loggerFactory = loggerFactory;
        RegistryOptions registry = _options.ToRegistryOptions();
#pragma warning disable CA2000 // Owned by the HttpClient, which this client disposes.
        _ownedHttp = new HttpClient(RegistryClientServices.CreateHandler(registry)) { Timeout = Timeout.InfiniteTimeSpan };
#pragma warning restore CA2000
        Registry = new RemoteRegistry(_ownedHttp, registry, loggerFactory?.CreateLogger<RemoteRegistry>());
        Store = ModelStore.Open(ModelStore.ResolveRoot(_options.ModelsDirectory));
        _options.Pull.Validate();
    }

    /// <summary>Creates a client over a registry client and store of the caller's (as the DI registration does).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A pull option is out of range; the message names it.</exception>
    public ModelClient(RemoteRegistry registry, ModelStore store, ModelClientOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(store);
        Registry = registry;
        Store = store;
        _options = options ?? new ModelClientOptions();
        _loggerFactory = loggerFactory;
        _options.Pull.Validate();
    }

    /// <summary>The registry client (for blob reads, manifests, tags).</summary>
    public RemoteRegistry Registry { get; }

    /// <summary>The model store.</summary>
    public ModelStore Store { get; }

    /// <summary>
    /// Pulls a model (<c>llama3.2</c>, <c>host:port/namespace/model:tag</c>, <c>…@sha256:…</c>) into the store: its blobs,
    /// each verified as it arrives (its SHA-256 grows as its bytes land), then its manifest. Blobs already in the store are not fetched again.
    /// </summary>
    /// <param name="name">The model's name.</param>
    /// <param name="progress">Receives the pull's progress (in order per blob, at most about ten reports a second per blob) on worker threads; must be cheap and not block. Null means none.</param>
    /// <param name="cancellationToken">Cancels the pull; what was verified stays, and the next pull continues from there.</param>
    /// <returns>The manifest digest (<see cref="PullResult.Models"/>) and the bytes fetched, resumed and already present.</returns>
    /// <exception cref="InvalidModelNameException">The name is malformed.</exception>
    /// <exception cref="ModelNotFoundException">The registry has no such model.</exception>
    /// <exception cref="RegistryUnreachableException">The registry could not be reached.</exception>
    /// <exception cref="RegistryResponseException">The registry kept answering with errors.</exception>
    /// <exception cref="Content.DigestMismatchException">A blob did not match its digest; nothing of it was stored.</exception>
    /// <exception cref="StoreException">The store is not writable or is full.</exception>
    public Task<PullResult> PullAsync(string name, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default) =>
        PullAsync([ModelName.Parse(name)], progress, cancellationToken);

    /// <summary>Pulls several models through one worker pool (a blob several of them name is fetched once).</summary>
    /// <inheritdoc cref="PullAsync(string, IProgress{PullProgress}?, CancellationToken)"/>
    public Task<PullResult> PullAsync(IReadOnlyList<ModelName> names, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Puller().PullAsync(names, progress, cancellationToken);

    /// <summary>
    /// Pushes a model of the store to a registry (its own name's, or <paramref name="target"/>): blobs the registry
    /// has are skipped, the others uploaded in chunks, the manifest last. An interrupted push continues where the
    /// registry's upload session stands (recorded in the store after every chunk).
    /// </summary>
    /// <param name="name">The model in the store.</param>
    /// <param name="target">Where to push it (<c>host:port/namespace/model:tag</c>); null means <paramref name="name"/> itself.</param>
    /// <param name="options">Chunk size and blobs at once; null means the defaults.</param>
    /// <param name="progress">Receives each blob's uploaded bytes; null means none.</param>
    /// <param name="cancellationToken">Cancels the push; acknowledged bytes stay with the registry's session for the next push.</param>
    /// <exception cref="ModelNotInStoreException">The store has no such model.</exception>
    /// <exception cref="RegistryResponseException">The registry refused (read-only, credentials that may not push, a rejected manifest).</exception>
    public Task<PushResult> PushAsync(string name, string? target = null, PushOptions? options = null, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default) =>
        new ModelPusher(Registry, Store, options, _loggerFactory?.CreateLogger<ModelPusher>())
            .PushAsync(ModelName.Parse(name), target is null ? null : ModelName.Parse(target), progress, cancellationToken);

    /// <summary>
    /// Copies a model between registries and OCI layouts, as <c>regc copy</c> does: registry names, <c>oci:DIR:REF</c>
    /// sources and <c>oci:DIR</c> destinations. Registry to registry goes through this client's store.
    /// </summary>
    /// <param name="source">A registry name or <c>oci:DIR:REF</c>.</param>
    /// <param name="destination">A registry name or <c>oci:DIR</c>.</param>
    /// <param name="progress">Receives the transfers' progress; null means none.</param>
    /// <param name="cancellationToken">Cancels the copy; verified bytes and acknowledged uploads stay for the next one.</param>
    public Task<CopyResult> CopyAsync(string source, string destination, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default) =>
        new ModelCopier(Registry, Store, _options.Pull, null, _loggerFactory).CopyAsync(source, destination, progress, cancellationToken);

    /// <summary>
    /// Mirrors models into another folder, laid out as an Ollama store or an OCI layout: registry names, <c>oci:DIR:REF</c>
    /// references, or the models of a local store (<see cref="MirrorOptions.FromStore"/>).
    /// </summary>
    /// <param name="references">What to mirror.</param>
    /// <param name="targetDirectory">The folder to mirror into (created when needed).</param>
    /// <param name="layout">How the target is laid out. Default an Ollama store.</param>
    /// <param name="options">Tags, local source, failures; null means the defaults.</param>
    /// <param name="progress">Receives the registry pulls' progress; null means none.</param>
    /// <param name="cancellationToken">Cancels the mirror; what was verified stays.</param>
    public Task<MirrorResult> MirrorAsync(
        IReadOnlyList<string> references,
        string targetDirectory,
        StoreLayout layout = StoreLayout.Ollama,
        MirrorOptions? options = null,
        IProgress<PullProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        new ModelMirror(Registry, _options.Pull, _loggerFactory?.CreateLogger<ModelPuller>())
            .MirrorAsync(references, new ModelStore(targetDirectory, layout), options, progress, cancellationToken);

    /// <summary>Checks the store: every blob hashes to its name, every manifest's blobs are there with the right size.</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    public Task<VerifyReport> VerifyAsync(CancellationToken cancellationToken = default) => new StoreVerifier(Store).VerifyAsync(cancellationToken);

    /// <summary>
    /// Checks the store; with <paramref name="fast"/>, blobs with fingerprints are compared with them at disk speed
    /// instead of hashed (accidental damage since SHA-256 last proved them, not tampering; see <see cref="StoreVerifier"/>).
    /// </summary>
    /// <param name="fast">Compare with fingerprints where they are kept.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    public Task<VerifyReport> VerifyAsync(bool fast, CancellationToken cancellationToken = default) => new StoreVerifier(Store).VerifyAsync(fast, cancellationToken);

    /// <summary>
    /// Fetches again what <paramref name="report"/> (null: a fresh <see cref="VerifyAsync(CancellationToken)"/>) found damaged or missing,
    /// from the registries of the models that name it; nothing on disk changes until each registry has the blob.
    /// </summary>
    /// <param name="report">What to repair; null means verify first.</param>
    /// <param name="progress">Receives the fetches' progress; null means none.</param>
    /// <param name="cancellationToken">Cancels the repair.</param>
    public async Task<PullResult> RepairAsync(VerifyReport? report = null, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        report ??= await VerifyAsync(cancellationToken).ConfigureAwait(false);
        return await new StoreRepairer(Registry, Store, _options.Pull, _loggerFactory?.CreateLogger<ModelPuller>())
            .RepairAsync(report, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes what no model needs: unnamed blobs, abandoned partial downloads, leftover records (never a running pull's
    /// files). With <paramref name="dryRun"/>, only says what it would remove.
    /// </summary>
    /// <param name="dryRun">True to remove nothing.</param>
    /// <param name="cancellationToken">Cancels before anything is removed.</param>
    /// <returns>Each file removed (or that would be), with its size and why.</returns>
    public Task<IReadOnlyList<PruneItem>> PruneAsync(bool dryRun = false, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        IReadOnlyList<PruneItem> items = new StorePruner(Store).Plan();
        if (!dryRun)
        {
            StorePruner.Apply(items);
        }

        return Task.FromResult(items);
    }

    /// <summary>The models in the store, with their manifest digest, total size and modified time; manifests that cannot be read are left out.</summary>
    /// <param name="cancellationToken">Stops the listing.</param>
    public async IAsyncEnumerable<StoredModel> ListAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (StoredManifest stored in Store.ListManifests().OrderBy(m => m.Name.Key, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            (_, Content.Manifest? manifest, byte[]? bytes, _) = Store.ReadManifest(stored);
            if (manifest is not null && bytes is not null)
            {
                yield return new StoredModel(stored.Name, Content.Digest.Compute(bytes), manifest.TotalSize, stored.Modified);
            }
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    private ModelPuller Puller() => new(Registry, Store, _options.Pull, _loggerFactory?.CreateLogger<ModelPuller>());

    /// <summary>Closes the HTTP connections this client opened (none when it came from DI).</summary>
    public void Dispose() => _ownedHttp?.Dispose();
}
