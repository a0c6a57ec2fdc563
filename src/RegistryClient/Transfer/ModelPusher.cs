using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// Pushes a model of the store to a registry, as <c>ollama push</c> does, and resumably: each blob the registry lacks
/// goes up in chunks, the upload session's latest location and acknowledged offset are recorded in the store after
/// every chunk, and a later push (or a retry after a cut) asks the registry where that session stands and continues
/// there; it never sends a chunk twice into one session. Manifests go last: an index's children before the index.
/// </summary>
public sealed partial class ModelPusher
{
    private readonly RemoteRegistry _registry;
    private readonly ModelStore _store;
    private readonly PushOptions _options;
    private readonly ILogger _logger;

    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public ModelPusher(RemoteRegistry registry, ModelStore store, PushOptions? options = null, ILogger<ModelPusher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(store);
        _registry = registry;
        _store = store;
        _options = options ?? new PushOptions();
        _options.Validate();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>
    /// Pushes the stored model <paramref name="source"/> to <paramref name="target"/> (its own name when null): every
    /// blob the target lacks, then the manifest under the target's tag.
    /// </summary>
    /// <exception cref="ModelNotInStoreException">The store has no such model.</exception>
    /// <exception cref="StoreException">A blob of the model is missing from the store or has the wrong size.</exception>
    /// <exception cref="RegistryResponseException">The registry refused (read-only, credentials that may not push, a rejected manifest).</exception>
    public async Task<PushResult> PushAsync(ModelName source, ModelName? target = null, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        target ??= source;
        var clock = Stopwatch.StartNew();
        progress = ProgressCoalescer.Wrap(progress, _registry.TimeProvider); // in order per blob, at most ten running reports a second
        StoredManifest stored = _store.FindManifest(source);
        (_, Manifest? manifest, byte[]? bytes, string? error) = _store.ReadManifest(stored);
        if (manifest is null || bytes is null)
        {
            throw new StoreException($"the manifest of {source.DisplayName} cannot be used: {error}");
        }

        List<Descriptor> blobs = manifest.Blobs.Where(b => !manifest.IsChild(b.Digest)).ToList();
        foreach (Descriptor blob in blobs)
        {
            if (_store.GetBlobSize(blob.Digest) != blob.Size)
            {
                throw new StoreException($"{blob.Digest} of {source.DisplayName} is not complete in {_store.BlobsDirectory}; pull the model again before pushing it");
            }
        }

        progress?.Report(PullProgress.ForStatus(target, $"pushing to {target.Host}"));
        bool fixedForHost = _options.TryGetHostChunkSize(target.Host, out long requestSize);
        requestSize = fixedForHost ? requestSize : _options.ChunkSize;
        var counts = new PushCounts
        {
            ChunkSize = requestSize == 0 ? _options.ChunkSize : requestSize,
            MaxChunkSize = requestSize == 0 ? _options.ChunkSize : fixedForHost ? requestSize : Math.Max(_options.MaxChunkSize, _options.ChunkSize),
            Whole = requestSize == 0 ? WholeAsked : 0,
        };
        await Parallel.ForEachAsync(
            blobs,
            new ParallelOptions { MaxDegreeOfParallelism = _options.Concurrency, CancellationToken = cancellationToken },
            async (blob, token) => await PushBlobAsync(source, target, blob, counts, progress, token).ConfigureAwait(false)).ConfigureAwait(false);

        progress?.Report(PullProgress.ForStatus(target, "writing manifest"));
        foreach ((IndexEntry entry, Manifest _) in manifest.Children)
        {
            byte[] child = await File.ReadAllBytesAsync(_store.GetBlobPath(entry.Descriptor.Digest), cancellationToken).ConfigureAwait(false);
            await _registry.PutManifestAsync(target, entry.Descriptor.Digest.ToString(), child, entry.Descriptor.MediaType, cancellationToken).ConfigureAwait(false);
        }

        string mediaType = MediaTypeOf(manifest);
        await _registry.PutManifestAsync(target, target.Reference, bytes, mediaType, cancellationToken).ConfigureAwait(false);
        var subject = new Descriptor(mediaType, Digest.Compute(bytes), bytes.Length);
        int lists = 0;
        string? warning = null;
        if (!manifest.IsIndex && _options.ChunkIndex)
        {
            try
            {
                lists = await PushChunkIndexAsync(target, subject, blobs, progress, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The model is pushed; its chunk index is a help for later pulls, not a part of it.
                warning = $"the model was pushed, but its chunk index was not: {e.Message}";
                LogChunkIndexFailed(_logger, e.Message);
            }
        }

        return new PushResult(target, subject.Digest, counts.Uploaded, counts.BytesUploaded, counts.Present, counts.Mounted, counts.Resumed, clock.Elapsed)
        {
            ChunkLists = lists,
            Warning = warning,
        };
    }

    /// <summary>
    /// Sends the chunk lists of the model's large blobs beside it (<see cref="ChunkIndexArtifact"/>): each list as a
    /// small blob (the store's kept list, else computed from the blob now and kept), the artifact manifest by digest,
    /// and where the registry has no referrers API, the artifact added to the tag schema's index. Returns the lists sent.
    /// </summary>
    private async Task<int> PushChunkIndexAsync(ModelName target, Descriptor subject, List<Descriptor> blobs, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        List<Descriptor> large = blobs.Where(b => b.Size >= _options.ChunkIndexThreshold).ToList();
        if (large.Count == 0)
        {
            return 0;
        }

        if (await _registry.GetChunkSumsAsync(target, large[0], cancellationToken).ConfigureAwait(false) is not null)
        {
            LogServesChunkSums(_logger, target.Host);
            return 0; // the registry makes its own chunk lists (regc serve, Ollama's): nothing to carry
        }

        var lists = new List<(Digest Blob, Descriptor List)>();
        foreach (Descriptor blob in large)
        {
            ChunkList list = _store.TryReadChunkList(blob.Digest, blob.Size) ?? _store.ComputeChunkList(blob.Digest, blob.Size, _options.ChunkIndexChunkSize, cancellationToken);
            await _store.TryKeepChunkListAsync(blob.Digest, list, cancellationToken).ConfigureAwait(false);
            byte[] text = list.ToBytes();
            var descriptor = new Descriptor(ChunkIndexArtifact.ListMediaType, Digest.Compute(text), text.Length);
            await _registry.PushBytesAsync(target, descriptor, text, cancellationToken).ConfigureAwait(false);
            lists.Add((blob.Digest, descriptor));
        }

        progress?.Report(PullProgress.ForStatus(target, "writing chunk index"));
        await _registry.PushBytesAsync(target, ChunkIndexArtifact.EmptyConfigDescriptor, ChunkIndexArtifact.EmptyConfig, cancellationToken).ConfigureAwait(false);
        byte[] artifact = ChunkIndexArtifact.Build(subject, lists);
        var artifactDescriptor = new Descriptor(MediaTypes.OciManifest, Digest.Compute(artifact), artifact.Length);
        bool indexed = await _registry.PutManifestAsync(target, artifactDescriptor.Digest.ToString(), artifact, MediaTypes.OciManifest, cancellationToken).ConfigureAwait(false);
        if (!indexed)
        {
            // No referrers API: keep the referrers tag schema's index (racy between clients, as the spec says).
            ModelName tag = target.WithTag(ChunkIndexArtifact.ReferrersTag(subject.Digest));
            byte[]? existing = null;
            try
            {
                existing = (await _registry.GetManifestAsync(tag, cancellationToken).ConfigureAwait(false)).Bytes.ToArray();
            }
            catch (ModelNotFoundException)
            {
                // The first referrer.
            }

            await _registry.PutManifestAsync(target, tag.Tag, ChunkIndexArtifact.AddToReferrers(existing, artifactDescriptor), MediaTypes.OciIndex, cancellationToken).ConfigureAwait(false);
        }

        LogChunkIndex(_logger, lists.Count, subject.Digest.Short, indexed ? "the referrers API" : "the referrers tag schema");
        return lists.Count;
    }

    /// <summary>The media type a manifest is put with: its own, else what its shape says.</summary>
    private static string MediaTypeOf(Manifest manifest) =>
        manifest.MediaType ?? (manifest.IsIndex ? MediaTypes.OciIndex : manifest.Config.MediaType == MediaTypes.DockerConfig ? MediaTypes.DockerManifest : MediaTypes.OciManifest);

    private async Task PushBlobAsync(ModelName source, ModelName target, Descriptor blob, PushCounts counts, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        // One push at a time per blob and repository from this store: a second one waits, then finds the blob there.
        using IDisposable uploading = await _store.LockUploadAsync(
            target, blob.Digest, () => progress?.Report(PullProgress.ForStatus(target, $"waiting for another push of {blob.Digest.Short} to finish")), cancellationToken).ConfigureAwait(false);
        if (await _registry.HasBlobAsync(target, blob, cancellationToken).ConfigureAwait(false))
        {
            Interlocked.Increment(ref counts.Present);
            _store.DeleteUploadRecord(target, blob.Digest);
            progress?.Report(new PullProgress(blob.Digest, blob.Size, blob.Size, TransferState.Cached, blob.Size));
            return;
        }

        progress?.Report(new PullProgress(blob.Digest, 0, blob.Size, TransferState.Started));
        BlobUpload? upload = await ResumeAsync(target, blob, cancellationToken).ConfigureAwait(false);
        if (upload is not null)
        {
            Interlocked.Increment(ref counts.Resumed);
            LogResumed(_logger, blob.Digest.Short, upload.Offset);
        }
        else
        {
            ModelName? mountFrom = source.Host == target.Host && source.Repository != target.Repository ? source : null;
            try
            {
                upload = await _registry.StartUploadAsync(target, blob, mountFrom, cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryResponseException e) when (mountFrom is not null && e.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
            {
                // No pull on the source repository (or a registry that refuses the scope of a mount): upload instead.
                LogMountRefused(_logger, blob.Digest.Short, mountFrom.Repository, e.Message);
                upload = await _registry.StartUploadAsync(target, blob, null, cancellationToken).ConfigureAwait(false);
            }

            if (upload is null)
            {
                Interlocked.Increment(ref counts.Mounted);
                progress?.Report(new PullProgress(blob.Digest, blob.Size, blob.Size, TransferState.Completed, blob.Size));
                return;
            }

            await RecordAsync(target, blob, upload, cancellationToken).ConfigureAwait(false);
        }

        long resumedAt = upload.Offset;
        long sending = 0; // bytes of the request in flight, for progress only
        long shown = resumedAt; // progress never goes back, even when a request in flight fails
        var sent = new SyncProgress(n =>
        {
            long now = Math.Min(blob.Size, upload.Offset + Interlocked.Add(ref sending, n));
            if (now > shown)
            {
                shown = now;
                progress?.Report(new PullProgress(blob.Digest, now, blob.Size, TransferState.Running, resumedAt));
            }
        });
        string path = _store.GetBlobPath(blob.Digest);
        Stream OpenAt(long offset)
        {
            var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
            try
            {
                file.Position = offset;
                return file;
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }

        // A request in flight is let finish for a while after a cancel: a registry that appended part of a chunk
        // (distribution does, for a body cut short) then no longer matches the session's signed offset and drops the
        // whole session, so a cut mid-chunk would cost the blob's every byte sent so far.
        using var grace = new CancellationTokenSource();
        using CancellationTokenRegistration graceful = cancellationToken.Register(() => grace.CancelAfter(_options.CancelGrace));
        bool unsure = false; // a request failed: ask where the session stands before sending more
        int rejected = 0; // closing PUTs whose digest the registry refused
        long highWater = upload.Offset;
        await _registry.ExecuteAsync(
            async token =>
            {
                while (true) // a body limit (413) halves the requests and goes on at once; other failures go to the retry budget
                {
                    if (unsure)
                    {
                        // Where the session stands decides what goes next; until that is known, nothing is sent.
                        BlobUpload? status = await _registry.GetUploadStatusAsync(target, upload, token).ConfigureAwait(false);
                        if (status is null || status.Offset > blob.Size)
                        {
                            // The registry forgot the session (expired, or finished by a request whose answer was lost).
                            if (await _registry.HasBlobAsync(target, blob, token).ConfigureAwait(false))
                            {
                                unsure = false;
                                return;
                            }

                            status = await RestartAsync(target, blob, token).ConfigureAwait(false);
                        }

                        upload = status;
                        unsure = false;
                        await RecordAsync(target, blob, upload, token).ConfigureAwait(false);
                    }

                    try
                    {
                        while (true)
                        {
                            token.ThrowIfCancellationRequested(); // between chunks: stop here, the session stays whole
                            long left = blob.Size - upload.Offset;
                            long chunk = Volatile.Read(ref counts.Whole) != 0 ? left : Math.Max(Interlocked.Read(ref counts.ChunkSize), upload.MinChunkLength);
                            Interlocked.Exchange(ref sending, 0);
                            if (left <= chunk && (upload.Offset == 0 || left == 0 || left >= upload.MinChunkLength))
                            {
                                // The rest (a small blob whole, or the last chunk) goes with the closing PUT.
                                long at = upload.Offset;
                                await _registry.CompleteUploadAsync(target, upload, blob.Digest, left > 0 ? () => OpenAt(at) : null, left, sent, grace.Token).ConfigureAwait(false);
                                upload = upload with { Offset = blob.Size };
                                Interlocked.Add(ref counts.BytesUploaded, left);
                                return;
                            }

                            long from = upload.Offset;
                            long length = Math.Min(chunk, left);
                            long started = Stopwatch.GetTimestamp();
                            upload = await _registry.UploadChunkAsync(target, upload, () => OpenAt(from), length, sent, grace.Token).ConfigureAwait(false);
                            GrowChunks(counts, length, Stopwatch.GetElapsedTime(started));
                            Interlocked.Add(ref counts.BytesUploaded, length);
                            await RecordAsync(target, blob, upload, CancellationToken.None).ConfigureAwait(false);
                            _options.ChunkSent?.Invoke(blob.Digest, upload.Offset);
                        }
                    }
                    catch (RegistryResponseException e) when (e.RegistryCode == "DIGEST_INVALID" && ++rejected == 1)
                    {
                        // The session holds bytes that are not the blob's (a chunk appended twice by a registry that ignores
                        // Content-Range): start a new session, once. Until it is open, the next attempt asks first.
                        unsure = true;
                        upload = await RestartAsync(target, blob, token).ConfigureAwait(false);
                        unsure = false;
                        await RecordAsync(target, blob, upload, token).ConfigureAwait(false);
                        throw new RegistryProtocolException($"{e.Message}; uploading {blob.Digest.Short} again in a new session", isTransient: true);
                    }
                    catch (RegistryResponseException e) when (e.RegistryCode == "DIGEST_INVALID")
                    {
                        throw new StoreException(
                            $"{target.Host} computed another digest for {blob.Digest.Short} twice ({e.Message}); the store's copy may be damaged: run regc verify");
                    }
                    catch (ChunkedUploadRefusedException e)
                    {
                        // A registry that takes no chunks (405/501 on PATCH, or ECR's 201 that keeps only the first): every
                        // blob of this push goes whole from now on, this one in a new session.
                        if (Interlocked.Exchange(ref counts.Whole, WholeFound) != WholeFound)
                        {
                            LogWhole(_logger, target.Host, e.Message);
                        }

                        unsure = true;
                        upload = await RestartAsync(target, blob, token).ConfigureAwait(false);
                        unsure = false;
                        await RecordAsync(target, blob, upload, token).ConfigureAwait(false);
                    }
                    catch (RegistryResponseException e) when (e.StatusCode == System.Net.HttpStatusCode.RequestEntityTooLarge && TryHalveChunks(counts, upload.MinChunkLength))
                    {
                        // A proxy or registry with a body limit (nginx's client_max_body_size, Cloudflare's 100 MB): smaller
                        // requests from now on, for every blob of this push. The refused request appended nothing, but ask.
                        unsure = true;
                        LogHalved(_logger, blob.Digest.Short, ByteSize.Format(Interlocked.Read(ref counts.ChunkSize)), e.Message);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !(token.IsCancellationRequested || grace.IsCancellationRequested))
                    {
                        unsure = true;
                        throw ChunkFailure(e);
                    }
                }
            },
            _registry.CreateBudget($"upload of {blob.Digest.Short}", () => highWater = Math.Max(highWater, upload.Offset)), // bytes sent again after a restart are no progress
            cancellationToken).ConfigureAwait(false);

        _store.DeleteUploadRecord(target, blob.Digest);
        Interlocked.Increment(ref counts.Uploaded);
        progress?.Report(new PullProgress(blob.Digest, blob.Size, blob.Size, TransferState.Completed, resumedAt));
    }

    /// <summary>
    /// A chunk refused as not where the session stands (416), or for a session the registry does not know or will
    /// not continue (BLOB_UPLOAD_UNKNOWN, BLOB_UPLOAD_INVALID), is worth one more look at the session.
    /// </summary>
    private static Exception ChunkFailure(Exception e) => e switch
    {
        RegistryResponseException { StatusCode: System.Net.HttpStatusCode.RequestedRangeNotSatisfiable }
            or RegistryResponseException { RegistryCode: "BLOB_UPLOAD_UNKNOWN" or "BLOB_UPLOAD_INVALID" } =>
            new RegistryProtocolException($"{e.Message}; asking the registry where the upload stands", isTransient: true),
        _ => e,
    };

    /// <summary>Whole blobs because the options asked for them for this host.</summary>
    private const int WholeAsked = 1;

    /// <summary>Whole blobs because the registry refused chunks.</summary>
    private const int WholeFound = 2;

    /// <summary>The smallest request a body limit makes the push halve down to.</summary>
    public const long MinChunkSize = 64 << 10;

    /// <summary>A whole chunk acknowledged this fast doubles the next requests (up to the push's largest).</summary>
    private static readonly TimeSpan s_quickChunk = TimeSpan.FromSeconds(0.5);

    private static void GrowChunks(PushCounts counts, long sent, TimeSpan took)
    {
        long current = Interlocked.Read(ref counts.ChunkSize);
        long next = Math.Min(current * 2, Interlocked.Read(ref counts.MaxChunkSize));
        if (sent >= current && took < s_quickChunk && next > current)
        {
            Interlocked.CompareExchange(ref counts.ChunkSize, next, current);
        }
    }

    /// <summary>Halves the push's request size after a 413, not below <see cref="MinChunkSize"/> or the registry's minimum; false when it cannot.</summary>
    private static bool TryHalveChunks(PushCounts counts, long registryMinimum)
    {
        if (Interlocked.CompareExchange(ref counts.Whole, 0, WholeAsked) == WholeAsked)
        {
            return true; // whole blobs were asked for, but a body limit stands in the way: chunks after all
        }

        if (Volatile.Read(ref counts.Whole) == WholeFound)
        {
            return false; // a registry that takes no chunks behind a body limit: nothing smaller to send
        }

        while (true)
        {
            long current = Interlocked.Read(ref counts.ChunkSize);
            long half = current / 2;
            if (half < MinChunkSize || half < registryMinimum)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref counts.ChunkSize, half, current) == current)
            {
                Interlocked.Exchange(ref counts.MaxChunkSize, half); // never grows back to what was refused
                return true;
            }
        }
    }

    /// <summary>A new upload session for <paramref name="blob"/>, after the registry lost or refused the last one.</summary>
    private async Task<BlobUpload> RestartAsync(ModelName target, Descriptor blob, CancellationToken cancellationToken)
    {
        LogRestarted(_logger, blob.Digest.Short);
        return await _registry.StartUploadAsync(target, blob, null, cancellationToken).ConfigureAwait(false)
            ?? throw new RegistryProtocolException($"{target.Host} mounted {blob.Digest.Short} without being asked to", isTransient: false);
    }

    /// <summary>The recorded session of an earlier push of this blob, where the registry still holds it; else null (the record is dropped).</summary>
    private async Task<BlobUpload?> ResumeAsync(ModelName target, Descriptor blob, CancellationToken cancellationToken)
    {
        if (_store.TryReadUploadRecord(target, blob.Digest) is not { } record)
        {
            return null;
        }

        BlobUpload? upload = null;
        if (DateTimeOffset.UtcNow - record.Updated < _options.MaxSessionAge && _registry.IsOnOrigin(target, record.Location))
        {
            upload = await _registry.GetUploadStatusAsync(target, new BlobUpload(record.Location, record.Offset, 0), cancellationToken).ConfigureAwait(false);
        }

        if (upload is null || upload.Offset > blob.Size)
        {
            _store.DeleteUploadRecord(target, blob.Digest);
            return null;
        }

        return upload;
    }

    /// <summary>Records where the upload stands; a store that cannot be written (a read-only layout pushed from) only loses the resume.</summary>
    private async Task RecordAsync(ModelName target, Descriptor blob, BlobUpload upload, CancellationToken cancellationToken)
    {
        try
        {
            await _store.KeepUploadRecordAsync(target, blob.Digest, new UploadRecord(upload.Location, upload.Offset, DateTimeOffset.UtcNow), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNotRecorded(_logger, blob.Digest.Short, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Host} takes no chunks ({Reason}); the push sends each blob in one request from now on")]
    private static partial void LogWhole(ILogger logger, string host, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "mount of {Blob} from {Source} refused ({Reason}); uploading it")]
    private static partial void LogMountRefused(ILogger logger, string blob, string source, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Host} serves chunk lists itself: no chunk index is pushed")]
    private static partial void LogServesChunkSums(ILogger logger, string host);

    [LoggerMessage(Level = LogLevel.Debug, Message = "upload of {Blob} continues at byte {Offset} of an earlier session")]
    private static partial void LogResumed(ILogger logger, string blob, long offset);

    [LoggerMessage(Level = LogLevel.Debug, Message = "sent {Lists} chunk list(s) beside {Manifest}, found through {How}")]
    private static partial void LogChunkIndex(ILogger logger, int lists, string manifest, string how);

    [LoggerMessage(Level = LogLevel.Debug, Message = "where the upload of {Blob} stands cannot be recorded ({Reason}); an interrupted push will start it again")]
    private static partial void LogNotRecorded(ILogger logger, string blob, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the chunk index was not pushed: {Reason}")]
    private static partial void LogChunkIndexFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "upload of {Blob}: {Reason}; sending requests of {Size} from now on")]
    private static partial void LogHalved(ILogger logger, string blob, string size, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "upload session of {Blob} is gone; starting it again")]
    private static partial void LogRestarted(ILogger logger, string blob);

    /// <summary>Counts of one push, updated from parallel blobs, and its request size (halved by body limits).</summary>
    private sealed class PushCounts
    {
        public long ChunkSize;
        public long MaxChunkSize;
        public int Whole; // 0: chunks; WholeAsked or WholeFound: each blob in one request
        public int Uploaded;
        public long BytesUploaded;
        public int Present;
        public int Mounted;
        public int Resumed;
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (no synchronization context hop).</summary>
    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
