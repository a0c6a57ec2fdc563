using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Server;

/// <summary>
/// The push side of the distribution API: blob uploads (<c>POST</c>, <c>PATCH</c>, <c>PUT</c>, status by <c>GET</c>,
/// <c>DELETE</c>; monolithic, chunked and mounts) and manifests by tag or digest. An upload's bytes live in the store's
/// state folder until they hash to the digest the client names; its offset is what arrived, so a client cut off in
/// the middle of a chunk asks and sends only the rest. A manifest is accepted only when every blob it names is here.
/// </summary>
internal sealed class PushHandler
{
    private static readonly TimeSpan s_sessionWait = TimeSpan.FromSeconds(30);

    /// <summary>Upload sessions open at once (each holds a file); more are refused until some end.</summary>
    private const int MaxSessions = 1000;

    private readonly ModelStore _store;
    private readonly ManifestLocator _manifests;
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private long _bytesReceived;

    public PushHandler(ModelStore store, ManifestLocator manifests)
    {
        _store = store;
        _manifests = manifests;
    }

    /// <summary>Blob bytes appended to upload sessions, cut bodies included.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>A session in memory: its bytes, its running hash, and the one request that may touch it at a time.</summary>
    private sealed class Session(ReceivedUpload upload)
    {
        public ReceivedUpload Upload { get; } = upload;

        public SemaphoreSlim Lock { get; } = new(1, 1);
    }

    /// <summary><c>/v2/&lt;name&gt;/blobs/uploads/[&lt;id&gt;]</c>.</summary>
    public async Task UploadAsync(HttpContext context, ModelName repository, string id)
    {
        string method = context.Request.Method;
        if (id.Length == 0)
        {
            if (HttpMethods.IsPost(method))
            {
                await StartAsync(context, repository).ConfigureAwait(false);
            }
            else
            {
                context.Response.Headers.Allow = "POST";
                await RegistryHandler.ErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "UNSUPPORTED", "start an upload with POST").ConfigureAwait(false);
            }

            return;
        }

        Session? session = Find(id);
        if (session is null)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status404NotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown: start a new one with POST").ConfigureAwait(false);
            return;
        }

        if (!await session.Lock.WaitAsync(s_sessionWait, context.RequestAborted).ConfigureAwait(false))
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status409Conflict, "BLOB_UPLOAD_INVALID", "another request is writing this upload").ConfigureAwait(false);
            return;
        }

        try
        {
            if (!_sessions.TryGetValue(id, out Session? current) || current != session || !session.Upload.Exists)
            {
                // Finished or cancelled by the request that held the lock before this one (or by another process).
                _sessions.TryRemove(new KeyValuePair<string, Session>(id, session));
                await RegistryHandler.ErrorAsync(context, StatusCodes.Status404NotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown: start a new one with POST").ConfigureAwait(false);
                return;
            }

            session.Upload.Refresh(); // what another process serving this store wrote since
            if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method))
            {
                Acknowledge(context, repository, session.Upload, StatusCodes.Status204NoContent);
            }
            else if (HttpMethods.IsPatch(method))
            {
                if (await AppendAsync(context, session).ConfigureAwait(false))
                {
                    Acknowledge(context, repository, session.Upload, StatusCodes.Status202Accepted);
                }
            }
            else if (HttpMethods.IsPut(method))
            {
                await FinishAsync(context, repository, session).ConfigureAwait(false);
            }
            else if (HttpMethods.IsDelete(method))
            {
                Forget(session);
                context.Response.StatusCode = StatusCodes.Status204NoContent;
            }
            else
            {
                context.Response.Headers.Allow = "GET, HEAD, PATCH, PUT, DELETE";
                await RegistryHandler.ErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "UNSUPPORTED", $"{method} is not an upload method").ConfigureAwait(false);
            }
        }
        finally
        {
            session.Lock.Release();
        }
    }

    private async Task StartAsync(HttpContext context, ModelName repository)
    {
        IQueryCollection query = context.Request.Query;
        string? mount = query["mount"];
        if (mount is not null && Digest.TryParse(mount, out Digest mounted) && _store.GetBlobSize(mounted) is not null)
        {
            // One store holds every repository's blobs: a mount is a lookup. Without the blob, a session starts (as distribution does).
            Created(context, repository, mounted);
            return;
        }

        string? digestText = query["digest"];
        Digest digest = default;
        if (digestText is not null && !Digest.TryParse(digestText, out digest))
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "DIGEST_INVALID", "a digest is sha256:<64 lower-case hex digits>").ConfigureAwait(false);
            return;
        }

        if (_sessions.Count >= MaxSessions)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "TOOMANYREQUESTS", $"{MaxSessions} uploads are open; finish or cancel some first").ConfigureAwait(false);
            return;
        }

        var session = new Session(ReceivedUpload.Start(_store));
        if (digestText is null)
        {
            _sessions[session.Upload.Id] = session;
            Acknowledge(context, repository, session.Upload, StatusCodes.Status202Accepted);
            return;
        }

        // Monolithic: the whole blob in the POST's body.
        try
        {
            if (await AppendAsync(context, session).ConfigureAwait(false))
            {
                await CommitAsync(context, repository, session, digest).ConfigureAwait(false);
            }
        }
        finally
        {
            Forget(session);
        }
    }

    /// <summary>Appends the request's body where a <c>Content-Range</c> (if any) says it goes; false when it answered an error or the client left.</summary>
    private async Task<bool> AppendAsync(HttpContext context, Session session)
    {
        ReceivedUpload upload = session.Upload;
        string contentRange = context.Request.Headers["Content-Range"].ToString();
        if (contentRange.Length > 0)
        {
            string range = contentRange.StartsWith("bytes ", StringComparison.Ordinal) ? contentRange[6..] : contentRange;
            int dash = range.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !long.TryParse(range.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out long start))
            {
                await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "BLOB_UPLOAD_INVALID", "Content-Range is <first>-<last>").ConfigureAwait(false);
                return false;
            }

            if (start != upload.Length)
            {
                SetRange(context, upload);
                await RegistryHandler.ErrorAsync(context, StatusCodes.Status416RangeNotSatisfiable, "RANGE_INVALID", $"the upload holds {upload.Length} bytes; a chunk at {start} does not follow them").ConfigureAwait(false);
                return false;
            }
        }

        long before = upload.Length;
        try
        {
            await upload.AppendAsync(context.Request.Body, contentRange.Length > 0 ? before : null, context.RequestAborted).ConfigureAwait(false);
            return true;
        }
        catch (UploadInUseException e)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status409Conflict, "BLOB_UPLOAD_INVALID", $"{e.Message}; ask where it stands (GET) and go on from there").ConfigureAwait(false);
            return false;
        }
        catch (StoreException e)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status500InternalServerError, "UNKNOWN", e.Message).ConfigureAwait(false);
            return false;
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or BadHttpRequestException)
        {
            // The body ended early: the client is gone. What arrived stays, and is what the next status says.
            context.Abort();
            return false;
        }
        finally
        {
            Interlocked.Add(ref _bytesReceived, upload.Length - before);
        }
    }

    private async Task FinishAsync(HttpContext context, ModelName repository, Session session)
    {
        if (!Digest.TryParse(context.Request.Query["digest"].ToString(), out Digest digest))
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "DIGEST_INVALID", "the closing PUT needs ?digest=sha256:<64 lower-case hex digits>").ConfigureAwait(false);
            return;
        }

        if (!await AppendAsync(context, session).ConfigureAwait(false))
        {
            return;
        }

        await CommitAsync(context, repository, session, digest).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the session into <c>blobs/</c>; it is forgotten when that worked or the bytes were not the digest, and kept
    /// (for the client to ask about and finish again) when the commit was cut short.
    /// </summary>
    private async Task CommitAsync(HttpContext context, ModelName repository, Session session, Digest digest)
    {
        try
        {
            await session.Upload.CommitAsync(digest, context.RequestAborted).ConfigureAwait(false);
        }
        catch (DigestMismatchException e)
        {
            Forget(session);
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "DIGEST_INVALID", e.Message).ConfigureAwait(false);
            return;
        }
        catch (UploadInUseException e)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status409Conflict, "BLOB_UPLOAD_INVALID", e.Message).ConfigureAwait(false);
            return;
        }

        Forget(session);
        Created(context, repository, digest);
    }

    /// <summary><c>PUT /v2/&lt;name&gt;/manifests/&lt;reference&gt;</c>: kept only when every blob (or child manifest) it names is here.</summary>
    public async Task ManifestAsync(HttpContext context, ModelName repository, string reference)
    {
        byte[]? bytes = await ReadManifestBodyAsync(context).ConfigureAwait(false);
        if (bytes is null)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "MANIFEST_INVALID", $"a manifest is at most {ModelStore.MaxManifestBytes} bytes").ConfigureAwait(false);
            return;
        }

        Digest digest = Digest.Compute(bytes);
        ModelName? tagged = null;
        if (reference.StartsWith(Digest.Prefix, StringComparison.Ordinal))
        {
            if (!Digest.TryParse(reference, out Digest named) || named != digest)
            {
                await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "DIGEST_INVALID", $"the manifest's bytes hash to {digest}, not to the digest in the URL").ConfigureAwait(false);
                return;
            }
        }
        else if (!ModelName.TryParse($"{repository.Namespace}/{repository.Model}:{reference}", out tagged, out string? error))
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "TAG_INVALID", error).ConfigureAwait(false);
            return;
        }

        IReadOnlyList<Descriptor> needed;
        try
        {
            // An index's children and every blob they name, the children read back from the store (one level: an index of indexes is refused).
            needed = ManifestIndex.IsIndex(bytes, context.Request.ContentType) ? _store.ParseManifest(bytes).Blobs : Manifest.Parse(bytes).Blobs;
        }
        catch (InvalidManifestException e)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "MANIFEST_INVALID", e.Message).ConfigureAwait(false);
            return;
        }

        if (needed.FirstOrDefault(d => _store.GetBlobSize(d.Digest) != d.Size) is { } missing)
        {
            await RegistryHandler.ErrorAsync(context, StatusCodes.Status400BadRequest, "MANIFEST_BLOB_UNKNOWN", $"blob unknown to this registry: {missing.Digest} ({missing.Size} bytes); push it first").ConfigureAwait(false);
            return;
        }

        if (tagged is null)
        {
            // By digest (a child of an index, an artifact): kept as a blob, found through the index or tag that names it.
            using var content = new MemoryStream(bytes, writable: false);
            await _store.ImportBlobAsync(content, new Descriptor(context.Request.ContentType ?? MediaTypes.OciManifest, digest, bytes.Length), context.RequestAborted).ConfigureAwait(false);
        }
        else
        {
            await _store.WriteManifestAsync(_manifests.ForPush(tagged), bytes, context.RequestAborted).ConfigureAwait(false);
        }

        context.Response.Headers.Location = $"/v2/{repository.Repository}/manifests/{digest}";
        context.Response.Headers["Docker-Content-Digest"] = digest.ToString();
        context.Response.StatusCode = StatusCodes.Status201Created;
    }

    /// <summary>Removes sessions clients gave up long ago; called when the server starts.</summary>
    public int RemoveStale(TimeSpan maxAge) => ReceivedUpload.RemoveStale(_store, maxAge);

    private Session? Find(string id)
    {
        if (_sessions.TryGetValue(id, out Session? session))
        {
            return session;
        }

        // A session an earlier run of the server started: its bytes are on disk, its hash is made again at the end.
        ReceivedUpload? upload = ReceivedUpload.Open(_store, id);
        return upload is null ? null : _sessions.GetOrAdd(id, _ => new Session(upload));
    }

    private void Forget(Session session)
    {
        session.Upload.Cancel(); // the file first: a request arriving now finds neither
        _sessions.TryRemove(new KeyValuePair<string, Session>(session.Upload.Id, session));
    }

    private static void Acknowledge(HttpContext context, ModelName repository, ReceivedUpload upload, int status)
    {
        context.Response.StatusCode = status;
        context.Response.Headers.Location = $"/v2/{repository.Repository}/blobs/uploads/{upload.Id}";
        context.Response.Headers["Docker-Upload-UUID"] = upload.Id;
        SetRange(context, upload);
        context.Response.ContentLength = 0;
    }

    /// <summary><c>Range: 0-&lt;last&gt;</c> of what the session holds; absent while it holds nothing.</summary>
    private static void SetRange(HttpContext context, ReceivedUpload upload)
    {
        if (upload.Length > 0)
        {
            context.Response.Headers["Range"] = string.Create(CultureInfo.InvariantCulture, $"0-{upload.Length - 1}");
        }
    }

    private static void Created(HttpContext context, ModelName repository, Digest digest)
    {
        context.Response.StatusCode = StatusCodes.Status201Created;
        context.Response.Headers.Location = $"/v2/{repository.Repository}/blobs/{digest}";
        context.Response.Headers["Docker-Content-Digest"] = digest.ToString();
        context.Response.ContentLength = 0;
    }

    private static async Task<byte[]?> ReadManifestBodyAsync(HttpContext context)
    {
        if (context.Request.ContentLength > ModelStore.MaxManifestBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        byte[] chunk = new byte[64 << 10];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > ModelStore.MaxManifestBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
