using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Server;

/// <summary>
/// The pull-through side of <c>regc serve --pull-through</c>: what the store lacks is fetched from one upstream
/// registry, once however many requests ask (single flight per blob in this process; the store's claims make other
/// processes on the same store wait for the one that fills), verified by the pull engine and kept. A tag is asked of the
/// upstream again after its time to live; a digest never. A manifest is written into the store only after all its
/// blobs are; until then it is served from memory. The upstream is reached with the server's own credentials; nothing
/// of a client's request (its Authorization) goes upstream.
/// </summary>
internal sealed partial class PullThroughCache : IDisposable
{
    private readonly ModelStore _store;
    private readonly RemoteRegistry _registry;
    private readonly ModelPuller _puller;
    private readonly string _host;
    private readonly TimeSpan _tagTtl;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly ConcurrentDictionary<Digest, Filling> _fills = new();
    private readonly ConcurrentDictionary<Digest, (ModelName Repository, Descriptor Blob)> _known = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<TagEntry>>> _tags = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Digest, byte[]> _manifests = new();
    private readonly ConcurrentDictionary<Digest, byte[]> _lists = new(); // the upstream's chunk lists (empty: it has none)
    private readonly SemaphoreSlim _fillSlots = new(MaxFills, MaxFills);
    private long _bytesFilled;

    /// <summary>Large blobs filled at once (each through the pull engine's own parallel ranges); more wait their turn.</summary>
    private const int MaxFills = 4;

    /// <summary>The size from which a fill takes one of the <see cref="MaxFills"/> turns.</summary>
    private const long LargeBlob = 64L << 20;

    /// <summary>Tags and manifests kept in memory before the memory is emptied and started again.</summary>
    private const int MaxEntries = 1000;

    private sealed record TagEntry(byte[] Bytes, Digest Digest, DateTimeOffset Fetched);

    public PullThroughCache(ModelStore store, RemoteRegistry registry, string upstreamHost, TimeSpan tagTtl, ILogger? logger)
    {
        _store = store;
        _registry = registry;
        _host = upstreamHost;
        _tagTtl = tagTtl;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        // Chunks are checked as they arrive (where the upstream gives chunk digests), so requests can be answered
        // from what a fill has verified before the whole blob is in.
        _puller = new ModelPuller(registry, store, new PullOptions { VerifyChunksOnArrival = true, ChunkVerified = OnChunkVerified });
    }

    /// <summary>A fill under way: its task, and what it has verified so far.</summary>
    internal sealed class Filling(Descriptor blob)
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Descriptor Blob { get; } = blob;

        public FillProgress Progress { get; } = new();

        /// <summary>Completes when the blob is in the store; faults when the fill failed.</summary>
        public Task Task => _done.Task;

        // The outcome first, then the wake-up: a reader woken by the end always sees how it ended.
        public void Succeeded()
        {
            _done.TrySetResult();
            Progress.End();
        }

        public void Failed(Exception e)
        {
            _done.TrySetException(e);
            Progress.End();
        }
    }

    /// <summary>The upstream's host, under which filled models are kept in the store (as <c>regc pull</c> keeps them).</summary>
    public string Host => _host;

    /// <summary>Blob bytes fetched from the upstream.</summary>
    public long BytesFilled => Interlocked.Read(ref _bytesFilled);

    /// <summary>The manifest a tag names now: the upstream's, asked again once older than the time to live (one request for all the clients asking at once); the kept one when the upstream cannot be reached.</summary>
    public async Task<byte[]?> GetTaggedAsync(ModelName tagged, CancellationToken cancellationToken)
    {
        ModelName name = Upstream(tagged);
        string key = name.DisplayName;
        DateTimeOffset asked = DateTimeOffset.UtcNow;
        while (true)
        {
            if (_tags.Count > MaxEntries)
            {
                _tags.Clear(); // many tags asked once each: start again rather than grow
            }

            Lazy<Task<TagEntry>> fetch = _tags.GetOrAdd(key, _ => new Lazy<Task<TagEntry>>(() => FetchTagAsync(name)));
            Task<TagEntry> task = fetch.Value;
            try
            {
                TagEntry entry = await task.WaitAsync(cancellationToken).ConfigureAwait(false);
                if (DateTimeOffset.UtcNow - entry.Fetched < _tagTtl || entry.Fetched >= asked)
                {
                    return entry.Bytes; // fresh, or fetched for this very request (a time to live of 0 asks every time, once)
                }

                _tags.TryRemove(new KeyValuePair<string, Lazy<Task<TagEntry>>>(key, fetch)); // stale: the next round asks again
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _tags.TryRemove(new KeyValuePair<string, Lazy<Task<TagEntry>>>(key, fetch)); // the next request tries again
                if (e is ModelNotFoundException)
                {
                    return null;
                }

                byte[]? kept = await ReadKeptAsync(name).ConfigureAwait(false);
                if (kept is null)
                {
                    throw;
                }

                LogStale(_logger, key, e.Message);
                return kept;
            }
        }
    }

    /// <summary>A manifest by digest the store lacks: one the cache holds in memory, else the upstream's (its digest checked); null when there is none.</summary>
    public async Task<byte[]?> GetByDigestAsync(ModelName repository, Digest digest, CancellationToken cancellationToken)
    {
        if (_manifests.TryGetValue(digest, out byte[]? held))
        {
            return held;
        }

        try
        {
            FetchedManifest fetched = await _registry.GetManifestAsync(Upstream(repository), digest, cancellationToken).ConfigureAwait(false);
            return fetched.Bytes.ToArray();
        }
        catch (ModelNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Makes sure the store holds <paramref name="digest"/>: fills it from the upstream (joining a fill under way) and
    /// waits for it. A client that goes away stops waiting; the fill goes on. False when the upstream does not have it.
    /// </summary>
    public async Task<bool> EnsureBlobAsync(ModelName repository, Digest digest, CancellationToken cancellationToken)
    {
        if (_store.GetBlobSize(digest) is not null)
        {
            return true;
        }

        Filling? filling = await StartFillAsync(repository, digest, cancellationToken).ConfigureAwait(false);
        if (filling is null)
        {
            return false;
        }

        await filling.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// The upstream's chunk list of a blob (starting its fill), as its text; null when the upstream has none for it or
    /// does not have the blob. Asked once per blob while it fills.
    /// </summary>
    public async Task<byte[]?> GetUpstreamChunkListAsync(ModelName repository, Digest digest, CancellationToken cancellationToken)
    {
        if (_lists.TryGetValue(digest, out byte[]? known))
        {
            return known.Length == 0 ? null : known;
        }

        Filling? filling = await StartFillAsync(repository, digest, cancellationToken).ConfigureAwait(false);
        if (filling is null)
        {
            return null;
        }

        ModelName upstream = _known.TryGetValue(digest, out (ModelName Repository, Descriptor Blob) seen) ? seen.Repository : Upstream(repository);
        ChunkSums? sums = await _registry.GetChunkSumsAsync(upstream, filling.Blob, cancellationToken).ConfigureAwait(false);
        byte[] list = sums?.List.ToBytes() ?? [];
        if (_lists.Count > MaxEntries)
        {
            _lists.Clear();
        }

        _lists[digest] = list;
        return list.Length == 0 ? null : list;
    }

    /// <summary>
    /// The fill of <paramref name="digest"/>, started now or joined; null when the upstream does not have the blob.
    /// (When the store already holds it, a fill that has ended.)
    /// </summary>
    public async Task<Filling?> StartFillAsync(ModelName repository, Digest digest, CancellationToken cancellationToken)
    {
        if (!_known.TryGetValue(digest, out (ModelName Repository, Descriptor Blob) known))
        {
            ModelName upstream = Upstream(repository);
            long? size = _store.GetBlobSize(digest) ?? await _registry.GetBlobSizeAsync(upstream, digest, cancellationToken).ConfigureAwait(false);
            if (size is null)
            {
                return null;
            }

            known = (upstream, new Descriptor("application/octet-stream", digest, size.Value));
        }

        return Fill(known.Repository, known.Blob);
    }

    public void Dispose()
    {
        _lifetime.Cancel();
        _lifetime.Dispose();
        _fillSlots.Dispose();
    }

    private async Task<TagEntry> FetchTagAsync(ModelName name)
    {
        DateTimeOffset fetchedAt = DateTimeOffset.UtcNow;
        FetchedManifest fetched = await _registry.GetManifestAsync(name, _lifetime.Token).ConfigureAwait(false);
        byte[] bytes = fetched.Bytes.ToArray();
        if (_manifests.Count > MaxEntries)
        {
            _manifests.Clear();
        }

        _manifests[fetched.Digest] = bytes;
        StartModelFill(name, bytes);
        return new TagEntry(bytes, fetched.Digest, fetchedAt);
    }

    /// <summary>
    /// Fills every blob of an image manifest in the background, then keeps the manifest under its tag: clients of one
    /// model ask for all its blobs anyway, and the manifest is only written once all of them are in the store.
    /// </summary>
    private void StartModelFill(ModelName name, byte[] bytes)
    {
        Manifest manifest;
        try
        {
            if (ManifestIndex.IsIndex(bytes, null))
            {
                return; // an index's children are fetched when asked for; the index is served from memory
            }

            manifest = Manifest.Parse(bytes);
        }
        catch (InvalidManifestException e)
        {
            LogUnreadable(_logger, name.DisplayName, e.Message);
            return;
        }

        if (_known.Count > MaxEntries * 100)
        {
            _known.Clear();
        }

        foreach (Descriptor blob in manifest.Blobs)
        {
            _known[blob.Digest] = (name, blob); // the latest manifest's word on it
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await Task.WhenAll(manifest.Blobs.Select(b => Fill(name, b).Task)).ConfigureAwait(false);
                if (manifest.Blobs.FirstOrDefault(b => _store.GetBlobSize(b.Digest) != b.Size) is { } wrong)
                {
                    // Joined a fill of the same digest that another manifest sized differently: this one cannot be right.
                    throw new InvalidManifestException($"{name.DisplayName} names {wrong.Digest} with {wrong.Size} bytes, but the blob has {_store.GetBlobSize(wrong.Digest)}");
                }

                if (await ReadKeptAsync(name).ConfigureAwait(false) is not { } kept || !kept.AsSpan().SequenceEqual(bytes))
                {
                    await _store.WriteManifestAsync(name, bytes, _lifetime.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !_lifetime.IsCancellationRequested)
            {
                LogFillFailed(_logger, name.DisplayName, e.Message);
            }
        });
    }

    /// <summary>The fill of one blob: started once, shared by every request for it until it ends; a failed one is started again by the next.</summary>
    private Filling Fill(ModelName repository, Descriptor blob)
    {
        if (_store.GetBlobSize(blob.Digest) == blob.Size)
        {
            var done = new Filling(blob);
            done.Succeeded();
            return done;
        }

        var mine = new Filling(blob);
        Filling filling = _fills.GetOrAdd(blob.Digest, mine);
        if (filling != mine)
        {
            return filling; // joined a fill under way
        }

        _ = Task.Run(async () =>
        {
            try
            {
                // Large blobs take turns; small ones (configs, short layers) go at once, so a model's small blobs never
                // wait behind other models' weights.
                bool large = blob.Size >= LargeBlob;
                if (large)
                {
                    await _fillSlots.WaitAsync(_lifetime.Token).ConfigureAwait(false);
                }

                PullResult result;
                try
                {
                    result = await _puller.FetchBlobsAsync([(repository, blob)], null, _lifetime.Token).ConfigureAwait(false);
                }
                finally
                {
                    if (large)
                    {
                        _fillSlots.Release();
                    }
                }

                Interlocked.Add(ref _bytesFilled, result.BytesFetched);
                _fills.TryRemove(new KeyValuePair<Digest, Filling>(blob.Digest, mine));
                mine.Succeeded();
            }
            catch (Exception e)
            {
                _fills.TryRemove(new KeyValuePair<Digest, Filling>(blob.Digest, mine)); // the next request starts it again
                mine.Failed(e);
            }
        });
        return mine;
    }

    private void OnChunkVerified(VerifiedChunk chunk)
    {
        if (_fills.TryGetValue(chunk.Blob, out Filling? filling))
        {
            filling.Progress.Add(chunk);
        }
    }

    /// <summary>The manifest the store keeps under <paramref name="name"/>, or null.</summary>
    private Task<byte[]?> ReadKeptAsync(ModelName name) => RegistryHandler.ReadSmallFileAsync(_store.GetManifestPath(name), CancellationToken.None);

    private ModelName Upstream(ModelName name) => ModelName.Parse($"{_host}/{name.Namespace}/{name.Model}:{name.Tag}");

    [LoggerMessage(Level = LogLevel.Warning, Message = "serving the kept manifest of {Name}: the upstream failed ({Reason})")]
    private static partial void LogStale(ILogger logger, string name, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the manifest of {Name} cannot be read ({Reason}); its blobs are filled when asked for")]
    private static partial void LogUnreadable(ILogger logger, string name, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "filling {Name} failed ({Reason}); the next request tries again")]
    private static partial void LogFillFailed(ILogger logger, string name, string reason);
}
