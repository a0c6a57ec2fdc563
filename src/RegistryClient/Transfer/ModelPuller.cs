using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RegistryClient.Content;
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
        _fetcher = new ChunkFetcher(registry, _options.StallTimeout);
    }

    /// <summary>
    /// Pulls the models. Blobs already complete in the store (right name, right size) are not fetched again; a
    /// blob named by several models is fetched once. Each manifest is written only after all of its blobs are in
    /// <c>blobs/</c>.
    /// </summary>
    /// <exception cref="ModelNotFoundException">A name does not exist in its registry.</exception>
    /// <exception cref="RegistryResponseException">A registry kept answering with errors.</exception>
    /// <exception cref="InvalidManifestException">A manifest is malformed or too large.</exception>
    /// <exception cref="DigestMismatchException">A blob or manifest did not match its digest; nothing of it was stored.</exception>
    /// <exception cref="StoreException">The store is not writable, is full, or holds something unsafe.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; partial files stay for a later pull.</exception>
    public async Task<PullResult> PullAsync(IReadOnlyList<ModelName> names, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        long started = _registry.TimeProvider.GetTimestamp();
        _store.EnsureWritable();
        ModelName[] distinct = names.Distinct().ToArray();
        PulledModel[] models = await Task.WhenAll(distinct.Select(name => ResolveAsync(name, cancellationToken))).ConfigureAwait(false);

        var plan = new Dictionary<Digest, Descriptor>();
        var owners = new Dictionary<Digest, ModelName>();
        var cached = new HashSet<Digest>();
        foreach ((ModelName owner, Descriptor blob) in models.SelectMany(m => m.Manifest.Blobs.Select(b => (m.Name, b))))
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
                cached.Add(blob.Digest);
                _options.Progress?.Report(new TransferProgress(blob.Digest, blob.Size, blob.Size, TransferState.Cached, blob.Size));
            }
        }

        Descriptor[] toFetch = plan.Values.Where(d => !cached.Contains(d.Digest)).ToArray();
        CheckFreeSpace(toFetch);
        LogPullStarting(_logger, distinct.Length, toFetch.Length, toFetch.Sum(d => d.Size));

        await TransferAsync(models, toFetch, owners, cancellationToken).ConfigureAwait(false);

        long cachedBytes = plan.Values.Where(d => cached.Contains(d.Digest)).Sum(d => d.Size);
        long fetchedBytes = toFetch.Sum(d => d.Size);
        TimeSpan elapsed = _registry.TimeProvider.GetElapsedTime(started);
        LogPullDone(_logger, distinct.Length, fetchedBytes, elapsed.TotalSeconds);
        return new PullResult(models, toFetch.Length, cached.Count, fetchedBytes, cachedBytes, elapsed);
    }

    private async Task<PulledModel> ResolveAsync(ModelName name, CancellationToken cancellationToken)
    {
        _options.Status?.Report($"{name}: pulling manifest");
        FetchedManifest fetched = await _registry.GetManifestAsync(name, cancellationToken).ConfigureAwait(false);
        if (ManifestIndex.IsIndex(fetched.Bytes.Span, fetched.MediaType))
        {
            IndexEntry entry = ManifestIndex.Parse(fetched.Bytes.Span).Select(_options.Platform);
            fetched = await _registry.GetManifestAsync(name, entry.Descriptor.Digest, cancellationToken).ConfigureAwait(false);
        }

        return new PulledModel(name, fetched.Digest, Manifest.Parse(fetched.Bytes.Span)) { Bytes = fetched.Bytes };
    }

    private void CheckFreeSpace(Descriptor[] blobs)
    {
        long needed = blobs.Sum(d => d.Size);
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
                $"not enough space in {_store.Root}: the pull needs {Units.Bytes(needed)} and {Units.Bytes(free)} is free");
        }
    }

    private async Task TransferAsync(PulledModel[] models, Descriptor[] toFetch, Dictionary<Digest, ModelName> owners, CancellationToken cancellationToken)
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

        var assemblies = new Dictionary<Digest, BlobAssembly>();
        try
        {
            foreach (Descriptor descriptor in toFetch)
            {
                Chunk[] chunks = ChunkPlanner.Plan(descriptor.Size, _options.RangeSize, _options.ParallelThreshold);
                assemblies.Add(descriptor.Digest, new BlobAssembly(PartialBlob.Create(_store, descriptor), chunks, _options.Progress));
                _options.Progress?.Report(new TransferProgress(descriptor.Digest, 0, descriptor.Size, TransferState.Started));
            }

            var work = new ConcurrentQueue<(ModelName Name, BlobAssembly Blob, int Index)>();
            foreach (Descriptor descriptor in toFetch)
            {
                BlobAssembly blob = assemblies[descriptor.Digest];
                for (int i = 0; i < blob.Chunks.Length; i++)
                {
                    work.Enqueue((owners[descriptor.Digest], blob, i));
                }
            }

            var tasks = new List<Task>();
            foreach (BlobAssembly blob in assemblies.Values)
            {
                tasks.Add(Guard(blob.RunHasherAsync(cts.Token), Fail));
            }

            int workers = Math.Min(_options.Concurrency, Math.Max(work.Count, 1));
            for (int i = 0; i < workers; i++)
            {
                tasks.Add(Guard(Task.Run(() => WorkAsync(work, cts.Token), CancellationToken.None), Fail));
            }

            foreach (PulledModel model in models)
            {
                tasks.Add(Guard(WriteManifestWhenCompleteAsync(model, assemblies, cts.Token), Fail));
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        finally
        {
            foreach (BlobAssembly blob in assemblies.Values)
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
    }

    private async Task WorkAsync(ConcurrentQueue<(ModelName Name, BlobAssembly Blob, int Index)> work, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(_options.BufferSize);
        try
        {
            while (!cancellationToken.IsCancellationRequested && work.TryDequeue(out var item))
            {
                await _fetcher.FetchAsync(item.Name, item.Blob, item.Index, buffer.AsMemory(0, _options.BufferSize), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteManifestWhenCompleteAsync(PulledModel model, Dictionary<Digest, BlobAssembly> assemblies, CancellationToken cancellationToken)
    {
        foreach (Descriptor blob in model.Manifest.Blobs)
        {
            if (assemblies.TryGetValue(blob.Digest, out BlobAssembly? assembly))
            {
                await assembly.Committed.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        // Every blob is in place (committed now, or complete before); check, then write the manifest last.
        foreach (Descriptor blob in model.Manifest.Blobs)
        {
            if (_store.GetBlobSize(blob.Digest) != blob.Size)
            {
                throw new StoreException($"{blob.Digest} vanished from {_store.BlobsDirectory} before the manifest of {model.Name} was written");
            }
        }

        _options.Status?.Report($"{model.Name}: writing manifest");
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

    [LoggerMessage(Level = LogLevel.Information, Message = "pulled {Models} model(s), {Bytes} bytes fetched in {Seconds:0.00} s")]
    private static partial void LogPullDone(ILogger logger, int models, long bytes, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pull failed: {Reason}")]
    private static partial void LogPullFailed(ILogger logger, string reason);
}
