using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using RegistryClient.Content;
using RegistryClient.Hashing;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// Pulls models into an Ollama-compatible store: resolves each name to a manifest, fetches every missing blob
/// through one bounded pool of range requests shared by all models, verifies each blob's digest while its
/// ranges arrive, commits verified blobs into <c>blobs/</c>, and writes each manifest last.
/// </summary>
/// <remarks>Immutable after construction; one instance can run several pulls, also at once.</remarks>
public sealed partial class ModelPuller
{
    private readonly RemoteRegistry _registry;
    private readonly ModelStore _store;
    private readonly PullOptions _options;
    private readonly ILogger _logger;
    private readonly ChunkFetcher _fetcher;

    /// <summary>How often a pull waiting for another process's download looks again.</summary>
    private static readonly TimeSpan OtherProcessPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>Creates a puller.</summary>
    /// <param name="registry">The registry client.</param>
    /// <param name="store">The store to pull into.</param>
    /// <param name="options">Options; null means the defaults of <see cref="PullOptions"/>.</param>
    /// <param name="logger">Logger; null means none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public ModelPuller(RemoteRegistry registry, ModelStore store, PullOptions? options = null, ILogger<ModelPuller>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(store);
        _registry = registry;
        _store = store;
        _options = options ?? new PullOptions();
        _options.Validate();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _fetcher = new ChunkFetcher(
            registry, _options.StallTimeout, _options.LimitRate is { } rate ? new RateLimiter(rate, registry.TimeProvider) : null);
    }

    /// <summary>
    /// Pulls the models. Blobs already complete in the store (right name, right size) are not fetched again; a
    /// blob named by several models is fetched once. Each manifest is written only after all of its blobs are in
    /// <c>blobs/</c>.
    /// </summary>
    /// <param name="names">The models.</param>
    /// <param name="progress">
    /// Receives this pull's progress: each model's phases, and each blob's bytes (in order per blob, running counts at most
    /// about ten times a second per blob), on worker threads; must be cheap and must not block. Null means none.
    /// </param>
    /// <param name="cancellationToken">Cancels the pull; partial files stay for a later one.</param>
    /// <exception cref="ModelNotFoundException">A name does not exist in its registry.</exception>
    /// <exception cref="RegistryResponseException">A registry kept answering with errors.</exception>
    /// <exception cref="InvalidManifestException">A manifest is malformed or too large.</exception>
    /// <exception cref="DigestMismatchException">A blob or manifest did not match its digest; nothing of it was stored.</exception>
    /// <exception cref="StoreException">The store is not writable, is full, or holds something unsafe.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; partial files stay for a later pull.</exception>
    public async Task<PullResult> PullAsync(IReadOnlyList<ModelName> names, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        long started = _registry.TimeProvider.GetTimestamp();
        _store.EnsureWritable();
        ProgressCoalescer? sink = ProgressCoalescer.Wrap(progress, _registry.TimeProvider);
        ModelName[] distinct = names.Distinct().ToArray();
        PulledModel[] models = await Task.WhenAll(distinct.Select(name => ResolveAsync(name, sink, cancellationToken))).ConfigureAwait(false);

        BlobPlan plan = Plan(models.SelectMany(m => BlobsToFetch(m).Select(b => (m.Name, b))), sink);
        LogPullStarting(_logger, distinct.Length, plan.ToFetch.Length, plan.ToFetch.Sum(d => d.Size));

        using PeerSet? peers = CreatePeers();
        (long downloaded, long reused) = await TransferAsync(models, plan.ToFetch, plan.Owners, sink, cancellationToken, peers).ConfigureAwait(false);

        TimeSpan elapsed = _registry.TimeProvider.GetElapsedTime(started);
        LogPullDone(_logger, distinct.Length, downloaded, reused, elapsed.TotalSeconds);
        return new PullResult(models, plan.ToFetch.Length, plan.Cached, downloaded, plan.CachedBytes, elapsed)
        {
            BytesResumed = reused,
            Warnings = peers?.Warnings ?? [],
            BytesBySource = peers?.Delivered.ToDictionary() ?? new Dictionary<string, long>(),
        };
    }

    /// <summary>
    /// Fetches blobs into the store without touching any manifest (used by <c>verify --repair</c>): each from the
    /// repository of <c>Source</c>, through the same pool, resume and verification as a pull. A partial left in the
    /// store for a blob (a damaged blob moved aside) is re-hashed chunk by chunk against the registry's chunk
    /// digests, so only the chunks that fail are downloaded.
    /// </summary>
    /// <param name="blobs">Each blob with the model whose repository it is read from.</param>
    /// <param name="progress">Receives the blobs' progress, as for <see cref="PullAsync"/>; null means none.</param>
    /// <param name="cancellationToken">Cancels the fetch; partial files stay for a later one.</param>
    /// <exception cref="RegistryResponseException">A registry kept answering with errors.</exception>
    /// <exception cref="DigestMismatchException">A blob did not match its digest; nothing of it was stored.</exception>
    /// <exception cref="StoreException">The store is not writable or is full.</exception>
    public async Task<PullResult> FetchBlobsAsync(
        IReadOnlyList<(ModelName Source, Descriptor Blob)> blobs, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        long started = _registry.TimeProvider.GetTimestamp();
        _store.EnsureWritable();
        ProgressCoalescer? sink = ProgressCoalescer.Wrap(progress, _registry.TimeProvider);
        BlobPlan plan = Plan(blobs, sink);
        (long downloaded, long reused) = await TransferAsync([], plan.ToFetch, plan.Owners, sink, cancellationToken).ConfigureAwait(false);
        return new PullResult([], plan.ToFetch.Length, plan.Cached, downloaded, plan.CachedBytes, _registry.TimeProvider.GetElapsedTime(started)) { BytesResumed = reused };
    }

    /// <summary>
    /// Each distinct blob once, with the first model that names it as its source; blobs already complete in the
    /// store are reported as cached and left out. Checks that the blobs to fetch fit on the disk.
    /// </summary>
    /// <exception cref="InvalidManifestException">One digest is listed with two sizes.</exception>
    private BlobPlan Plan(IEnumerable<(ModelName Owner, Descriptor Blob)> blobs, IProgress<PullProgress>? progress)
    {
        var plan = new Dictionary<Digest, Descriptor>();
        var owners = new Dictionary<Digest, ModelName>();
        var toFetch = new List<Descriptor>();
        int cached = 0;
        long cachedBytes = 0;
        foreach ((ModelName owner, Descriptor blob) in blobs)
        {
            owners.TryAdd(blob.Digest, owner);
            if (!plan.TryAdd(blob.Digest, blob))
            {
                if (plan[blob.Digest].Size != blob.Size)
                {
                    throw new InvalidManifestException($"{blob.Digest} is listed with sizes {plan[blob.Digest].Size} and {blob.Size} by different models");
                }

                continue;
            }

            if (_store.GetBlobSize(blob.Digest) == blob.Size)
            {
                cached++;
                cachedBytes += blob.Size;
                progress?.Report(new PullProgress(blob.Digest, blob.Size, blob.Size, TransferState.Cached, blob.Size));
            }
            else
            {
                toFetch.Add(blob);
            }
        }

        CheckFreeSpace([.. toFetch]);
        return new BlobPlan([.. toFetch], owners, cached, cachedBytes);
    }

    private sealed record BlobPlan(Descriptor[] ToFetch, Dictionary<Digest, ModelName> Owners, int Cached, long CachedBytes);

    private async Task<PulledModel> ResolveAsync(ModelName name, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        progress?.Report(PullProgress.ForStatus(name, "pulling manifest"));
        FetchedManifest fetched = await _registry.GetManifestAsync(name, cancellationToken).ConfigureAwait(false);
        if (!ManifestIndex.IsIndex(fetched.Bytes.Span, fetched.MediaType))
        {
            return new PulledModel(name, fetched.Digest, Manifest.Parse(fetched.Bytes.Span)) { Bytes = fetched.Bytes };
        }

        ManifestIndex index = ManifestIndex.Parse(fetched.Bytes.Span);
        if (!_options.WholeIndex)
        {
            FetchedManifest chosen = await FetchChildAsync(name, index.Select(_options.Platform), cancellationToken).ConfigureAwait(false);
            return new PulledModel(name, chosen.Digest, Manifest.Parse(chosen.Bytes.Span)) { Bytes = chosen.Bytes };
        }

        IndexEntry[] entries = index.Entries.DistinctBy(e => e.Descriptor.Digest).ToArray();
        FetchedManifest[] children = await Task.WhenAll(entries.Select(e => FetchChildAsync(name, e, cancellationToken))).ConfigureAwait(false);
        Manifest whole = Manifest.ForIndex(index.MediaType, entries.Zip(children, (e, c) => (e, Manifest.Parse(c.Bytes.Span))).ToArray());
        return new PulledModel(name, fetched.Digest, whole)
        {
            Bytes = fetched.Bytes,
            ChildBytes = children.ToDictionary(c => c.Digest, c => c.Bytes),
        };
    }

    /// <summary>A child manifest of an index, by digest (checked by the registry client) and by the size the index gives.</summary>
    private async Task<FetchedManifest> FetchChildAsync(ModelName name, IndexEntry entry, CancellationToken cancellationToken)
    {
        FetchedManifest child = await _registry.GetManifestAsync(name, entry.Descriptor.Digest, cancellationToken).ConfigureAwait(false);
        return child.Bytes.Length == entry.Descriptor.Size
            ? child
            : throw new InvalidManifestException($"the {entry.Platform} manifest {entry.Descriptor.Digest.Short} of {name} has {child.Bytes.Length} bytes; its index says {entry.Descriptor.Size}");
    }

    private void CheckFreeSpace(Descriptor[] blobs)
    {
        // Space already reserved by earlier pulls' partial files is not needed again.
        long needed = blobs.Sum(d => Math.Max(0, d.Size - _store.GetPartialFiles(d.Digest)
            .Where(StateFiles.IsPartial)
            .Select(f => new FileInfo(f) is { Exists: true } info ? info.Length : 0)
            .DefaultIfEmpty(0)
            .Max()));
        if (needed == 0)
        {
            return;
        }

        long free;
        try
        {
            free = new DriveInfo(_store.Root).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return; // Unknown; the reservation of each partial file still fails early on a full disk.
        }

        if (free < needed)
        {
            throw new StoreException(
                $"not enough space in {_store.Root}: the pull needs {ByteSize.Format(needed)} and {ByteSize.Format(free)} is free");
        }
    }

    /// <summary>The pull's peers with connections of their own (proxies and TLS as configured, no credentials); null without peers.</summary>
    private PeerSet? CreatePeers()
    {
        if (_options.Peers.Count == 0)
        {
            return null;
        }

#pragma warning disable CA2000 // Owned by the peer set.
        return new PeerSet(_options.Peers, new PeerConnections(_registry.Options), warning => LogPeerDropped(_logger, warning));
#pragma warning restore CA2000
    }

    private async Task<(long Downloaded, long Reused)> TransferAsync(
        PulledModel[] models, Descriptor[] toFetch, Dictionary<Digest, ModelName> owners, IProgress<PullProgress>? progress, CancellationToken cancellationToken, PeerSet? peers = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var failures = new ConcurrentQueue<Exception>();
        void Fail(Exception e)
        {
            if (e is not OperationCanceledException)
            {
                failures.Enqueue(e);
            }

            cts.Cancel();
        }

        // Blobs are claimed and planned concurrently. A chunk beyond its blob's hash window goes back into the queue
        // later, so the queue stays open until every blob is done (or the pull fails and cancels the workers).
        var work = Channel.CreateUnbounded<(BlobAssembly Blob, int Index)>();

        var assemblies = new ConcurrentBag<BlobAssembly>();
        using LaneHashEngine? lanes = HashesInLanes(_options) ? new LaneHashEngine(streams: _options.Concurrency) : null;
        ReceiveBufferPool? buffers = _options.HoldReceivedBytes && _options.HeldBytesLimit >= _options.BufferSize
            ? new ReceiveBufferPool(_options.BufferSize, _options.HeldBytesLimit)
            : null;
        var done = new Dictionary<Digest, Task>();
        var tasks = new List<Task>();
        try
        {
            foreach (Descriptor descriptor in toFetch)
            {
                ModelName owner = owners[descriptor.Digest];
                Digest? manifest = models.FirstOrDefault(m => m.Name.Key == owner.Key && !m.Manifest.IsIndex)?.ManifestDigest;
                Task blob = FetchBlobAsync(descriptor, owner, manifest, work.Writer, assemblies, lanes, buffers, progress, cts.Token, peers);
                done.Add(descriptor.Digest, blob);
                tasks.Add(Guard(blob, Fail));
            }

            _ = Task.WhenAll(done.Values).ContinueWith(_ => work.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            for (int i = 0; i < _options.Concurrency; i++)
            {
                tasks.Add(Guard(Task.Run(() => WorkAsync(work.Reader, cts.Token), CancellationToken.None), Fail));
            }

            foreach (PulledModel model in models)
            {
                tasks.Add(Guard(WriteManifestWhenCompleteAsync(model, done, progress, cts.Token), Fail));
            }

            tasks.Add(HeartbeatAsync(assemblies, Task.WhenAll(done.Values)));
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        finally
        {
            foreach (BlobAssembly blob in assemblies)
            {
                blob.Dispose();
            }
        }

        if (failures.TryDequeue(out Exception? first))
        {
            LogPullFailed(_logger, first.Message);
            ExceptionDispatchInfo.Capture(first).Throw();
        }

        cancellationToken.ThrowIfCancellationRequested();
        return (assemblies.Sum(a => a.Downloaded), assemblies.Sum(a => a.Reused));
    }

    /// <summary>
    /// Whether chunk digests are computed in one shared <see cref="LaneHashEngine"/> engine: when the lanes beat OpenSSL
    /// on this CPU (<see cref="Avx2Sha256Kernel.BeatsOpenSsl"/>) and enough ranges stream at once to fill them (with fewer,
    /// one lane is slower than OpenSSL on one stream); <see cref="PullOptions.HashChunksInLanes"/> overrides it.
    /// </summary>
    internal static bool HashesInLanes(PullOptions options) =>
        options.HashChunksInLanes ?? (Avx2Sha256Kernel.BeatsOpenSsl && options.Concurrency >= MinLaneConcurrency);

    /// <summary>Parallel ranges from which chunk digests are hashed in lanes.</summary>
    internal const int MinLaneConcurrency = 4;

    /// <summary>
    /// Claims the blob's partial file (waiting while another live process downloads it), asks for chunksums when
    /// the blob is big enough, resumes what an earlier pull left, queues the remaining chunks, then hashes and
    /// commits the blob as they land.
    /// </summary>
    private async Task FetchBlobAsync(
        Descriptor descriptor,
        ModelName owner,
        Digest? manifest,
        ChannelWriter<(BlobAssembly, int)> work,
        ConcurrentBag<BlobAssembly> assemblies,
        LaneHashEngine? lanes,
        ReceiveBufferPool? buffers,
        IProgress<PullProgress>? progress,
        CancellationToken cancellationToken,
        PeerSet? peers)
    {
        PartialBlob? partial = await ClaimAsync(descriptor, owner, progress, cancellationToken).ConfigureAwait(false);
        if (partial is null)
        {
            return; // Another process committed it.
        }

        BlobAssembly assembly;
        Digest listDigest;
        ChunkSums? sums;
        bool travelling = false;
        try
        {
            // The registry's own list; else the one the store kept when the blob was last proven whole (a repair);
            // else the chunk index that travels beside the manifest, which is only a hint (see below).
            sums = descriptor.Size >= _options.ChunkSumsThreshold
                ? await _registry.GetChunkSumsAsync(owner, descriptor, cancellationToken).ConfigureAwait(false)
                    ?? (_store.TryReadChunkList(descriptor.Digest, descriptor.Size) is { } kept ? _registry.ChunkSumsAt(owner, descriptor, kept) : null)
                : null;
            if (sums is null && descriptor.Size >= _options.ChunkSumsThreshold && manifest is { } digest)
            {
                sums = await TravellingChunkSumsAsync(owner, digest, descriptor, cancellationToken).ConfigureAwait(false);
                travelling = sums is not null;
            }

            _options.StageReached?.Invoke("after-chunksums");
            Chunk[] chunks = sums is null
                ? ChunkPlanner.Plan(descriptor.Size, _options.RangeSize, _options.ParallelThreshold)
                : sums.List.Chunks.Select(c => c.Range).ToArray();
            listDigest = sums?.List.ListDigest ?? ChunkPlanner.ListDigest(chunks);
            assembly = new BlobAssembly(
                _registry.GetBlobSource(owner, descriptor, sums?.Location),
                partial,
                chunks,
                sums?.List.Chunks.Select(c => c.Digest).ToArray(),
                // A travelling list is anyone's who could push: the whole digest decides, and the list only names the
                // chunks to fetch again when it fails (a wrong list then cannot fail a pull of right bytes). Chunks
                // from peers are checked as they arrive, against the origin's list.
                !travelling && ((sums is not null && peers is not null) || (_options.VerifyChunksOnArrival ?? lanes is not null)),
                _options.HashWindow,
                (blob, index) => work.TryWrite((blob, index)),
                progress)
            {
                Lanes = lanes,
                Buffers = buffers,
                Peers = sums is not null && !travelling && peers is not null ? (peers, owner) : null,
                ChunkVerified = _options.ChunkVerified,
            };
        }
        catch
        {
            partial.Dispose();
            throw;
        }

        assemblies.Add(assembly);
        List<int> remaining = assembly.Resume(listDigest);
        if (assembly.VerifiesChunksOnArrival)
        {
            lanes?.Expect(remaining.Count); // announced before any starts: each is hashed in the lanes as it streams
        }

        foreach (int index in remaining)
        {
            work.TryWrite((assembly, index));
        }

        if (assembly.Reused > 0)
        {
            LogResuming(_logger, descriptor.Digest.Short, assembly.Reused);
        }

        await assembly.RunAsync(
            (index, token) => RefetchAsync(assembly, index, token),
            (index, token) => StreamAsync(assembly, index, token),
            cancellationToken).ConfigureAwait(false);
        if (sums is not null)
        {
            // Proven by the whole digest now: verify can name damaged chunks, serve can offer the list unhashed. A
            // travelling list was not checked chunk by chunk: it is kept only when the blob's own chunks match it.
            if (!travelling || ListMatches(descriptor, sums.List, cancellationToken))
            {
                await _store.TryKeepChunkListAsync(descriptor.Digest, sums.List, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The blob's chunksums from the chunk index that travels beside its manifest (for registries without a chunksums
    /// endpoint), the index looked up once per manifest; null when there is none. A failure to find or read it is not
    /// the pull's: the blob is then fetched by own ranges, verified by its whole digest.
    /// </summary>
    private async Task<ChunkSums?> TravellingChunkSumsAsync(ModelName owner, Digest manifest, Descriptor blob, CancellationToken cancellationToken)
    {
        Task<IReadOnlyDictionary<Digest, Descriptor>?> lookup = _chunkIndexes.GetOrAdd(
            $"{owner.Host}/{owner.Repository}@{manifest}",
            _ => FindChunkIndexAsync(owner, manifest)); // shared by the blobs of all pulls: not one pull's to cancel
        if (await lookup.WaitAsync(cancellationToken).ConfigureAwait(false) is not { } index || !index.TryGetValue(blob.Digest, out Descriptor? list))
        {
            return null;
        }

        try
        {
            return await _registry.GetChunkSumsFromIndexAsync(owner, blob, list, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogChunkIndexFailed(_logger, manifest.Short, e.Message);
            return null;
        }
    }

    private async Task<IReadOnlyDictionary<Digest, Descriptor>?> FindChunkIndexAsync(ModelName owner, Digest manifest)
    {
        try
        {
            IReadOnlyDictionary<Digest, Descriptor>? index = await _registry.GetChunkIndexAsync(owner, manifest, CancellationToken.None).ConfigureAwait(false);
            if (index is not null)
            {
                LogChunkIndexFound(_logger, index.Count, manifest.Short);
            }

            return index;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogChunkIndexFailed(_logger, manifest.Short, e.Message);
            return null;
        }
    }

    /// <summary>True when the committed blob's own chunks hash to <paramref name="list"/>'s digests (a travelling list, before it is kept).</summary>
    private bool ListMatches(Descriptor blob, ChunkList list, CancellationToken cancellationToken)
    {
        try
        {
            return _store.ComputeChunkList(blob.Digest, blob.Size, list.ChunkSize, cancellationToken).ListDigest == list.ListDigest;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Chunk indexes looked up during pulls, by repository and manifest digest (content addressed: never stale).</summary>
    private readonly ConcurrentDictionary<string, Task<IReadOnlyDictionary<Digest, Descriptor>?>> _chunkIndexes = new(StringComparer.Ordinal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Warning}")]
    private static partial void LogPeerDropped(ILogger logger, string warning);

    [LoggerMessage(Level = LogLevel.Debug, Message = "found a chunk index with {Lists} list(s) beside {Manifest}")]
    private static partial void LogChunkIndexFound(ILogger logger, int lists, string manifest);

    [LoggerMessage(Level = LogLevel.Debug, Message = "no chunk index beside {Manifest}: {Reason}")]
    private static partial void LogChunkIndexFailed(ILogger logger, string manifest, string reason);

    /// <summary>Fetches one chunk again outside the worker pool (a chunk of a resumed partial found damaged).</summary>
    private async Task RefetchAsync(BlobAssembly blob, int index, CancellationToken cancellationToken)
    {
        LogRefetching(_logger, blob.Descriptor.Digest.Short, blob.Chunks[index].ToString());
        await WithBufferAsync(buffer => FetchChunkAsync(blob, index, buffer, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Fetches the blob's remaining chunks as one stream (its registry ignores Range).</summary>
    private async Task StreamAsync(BlobAssembly blob, int from, CancellationToken cancellationToken)
    {
        LogRangeNotSupported(_logger, blob.Descriptor.Digest.Short);
        await WithBufferAsync(buffer => _fetcher.FetchStreamAsync(blob, from, buffer, cancellationToken)).ConfigureAwait(false);
    }

    private async Task WithBufferAsync(Func<Memory<byte>, Task> action)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(_options.BufferSize);
        try
        {
            await action(buffer.AsMemory(0, _options.BufferSize)).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Fetches one chunk by Range; when the registry ignores Range, leaves it to the blob's one-stream fallback.</summary>
    private async Task FetchChunkAsync(BlobAssembly blob, int index, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (blob.RangeNotSupported)
        {
            return;
        }

        blob.BeginFetch();
        try
        {
            await _fetcher.FetchAsync(blob, index, buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (RangeNotSupportedException)
        {
            blob.OnRangeNotSupported();
        }
        finally
        {
            blob.EndFetch();
        }
    }

    /// <summary>The blob's partial file for this process; null when another process committed the blob meanwhile.</summary>
    private async Task<PartialBlob?> ClaimAsync(Descriptor descriptor, ModelName owner, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        bool told = false;
        while (true)
        {
            PartialBlob? partial = PartialBlob.TryClaim(_store, descriptor, PartialOwner.Current, _options.StageReached, _options.DirectWrites);
            if (_store.GetBlobSize(descriptor.Digest) == descriptor.Size)
            {
                partial?.Discard(); // Committed by the other process: what is left of the partial is not needed.
                progress?.Report(new PullProgress(descriptor.Digest, descriptor.Size, descriptor.Size, TransferState.Cached, descriptor.Size));
                return null;
            }

            if (partial is not null)
            {
                return partial;
            }

            if (!told)
            {
                told = true;
                progress?.Report(new PullProgress(descriptor.Digest, 0, descriptor.Size, TransferState.Started)
                {
                    Model = owner,
                    Status = "another process is downloading this blob into the store; waiting for it",
                });
            }

            await Task.Delay(OtherProcessPoll, _registry.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Touches the owner files of this pull's partials while it runs (for processes on other hosts).</summary>
    private async Task HeartbeatAsync(ConcurrentBag<BlobAssembly> assemblies, Task until)
    {
        while (!until.IsCompleted)
        {
            await Task.WhenAny(until, Task.Delay(PartialOwner.HeartbeatInterval, _registry.TimeProvider)).ConfigureAwait(false);
            foreach (BlobAssembly blob in assemblies)
            {
                blob.Partial.Touch();
            }
        }
    }

    private Task WorkAsync(ChannelReader<(BlobAssembly Blob, int Index)> work, CancellationToken cancellationToken) =>
        WithBufferAsync(async memory =>
        {
            await foreach ((BlobAssembly blob, int index) in work.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!blob.TryStartInWindow(index))
                {
                    continue; // kept aside; it comes back once the blob's hash is near it
                }

                if (!await blob.TryReuseAsync(index, memory, cancellationToken).ConfigureAwait(false))
                {
                    await FetchChunkAsync(blob, index, memory, cancellationToken).ConfigureAwait(false);
                }
                else if (blob.VerifiesChunksOnArrival)
                {
                    blob.Lanes?.Expect(-1); // announced, but taken from the disk: never streams through the lanes
                }
            }
        });

    /// <summary>The blobs of a model that come from the registry's blob endpoint (not the child manifests of an index, fetched already).</summary>
    private static IEnumerable<Descriptor> BlobsToFetch(PulledModel model) =>
        model.Manifest.Blobs.Where(b => !model.ChildBytes.ContainsKey(b.Digest));

    private async Task WriteManifestWhenCompleteAsync(PulledModel model, Dictionary<Digest, Task> blobs, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        foreach (Descriptor blob in BlobsToFetch(model))
        {
            if (blobs.TryGetValue(blob.Digest, out Task? done))
            {
                await done.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        // The child manifests of an index are blobs of the store too (they hash to their names: checked when fetched).
        foreach ((Digest digest, ReadOnlyMemory<byte> bytes) in model.ChildBytes)
        {
            await _store.WriteSmallBlobAsync(digest, bytes, cancellationToken).ConfigureAwait(false);
        }

        // Every blob is in place (committed now, or complete before); check, then write the manifest last.
        foreach (Descriptor blob in model.Manifest.Blobs)
        {
            if (_store.GetBlobSize(blob.Digest) != blob.Size)
            {
                throw new StoreException($"{blob.Digest} vanished from {_store.BlobsDirectory} before the manifest of {model.Name} was written");
            }
        }

        _options.StageReached?.Invoke("before-manifest");
        progress?.Report(PullProgress.ForStatus(model.Name, "writing manifest"));
        await _store.WriteManifestAsync(model.Name, model.Bytes, cancellationToken).ConfigureAwait(false);
    }

    private static async Task Guard(Task task, Action<Exception> fail)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            fail(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "pulling {Models} model(s): {Blobs} blob(s), {Bytes} bytes to fetch")]
    private static partial void LogPullStarting(ILogger logger, int models, int blobs, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "pulled {Models} model(s): {Bytes} bytes downloaded, {Reused} bytes reused from partial files, in {Seconds:0.00} s")]
    private static partial void LogPullDone(ILogger logger, int models, long bytes, long reused, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Blob} bytes {Range} in the partial file do not match their chunk digest; fetching them again")]
    private static partial void LogRefetching(ILogger logger, string blob, string range);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the registry ignores Range for {Blob}; fetching the rest of it as one stream")]
    private static partial void LogRangeNotSupported(ILogger logger, string blob);

    [LoggerMessage(Level = LogLevel.Information, Message = "resuming {Blob}: {Bytes} bytes kept from an earlier pull")]
    private static partial void LogResuming(ILogger logger, string blob, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pull failed: {Reason}")]
    private static partial void LogPullFailed(ILogger logger, string reason);
}
