using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Win32.SafeHandles;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Server;

/// <summary>Answers the distribution API from a store (the push side through <see cref="PushHandler"/> when allowed). Paths are parsed strictly: every name
/// part is validated and every digest parsed before any file is touched.</summary>
internal sealed class RegistryHandler
{
    private const int CopyBufferSize = 256 << 10;
    private const int MaxTagsPage = 1000;

    private readonly ModelStore _store;
    private readonly ManifestLocator _manifests;
    private readonly ChunkSumsIndex _chunkSums;

    private readonly PushHandler? _push;

    private readonly PullThroughCache? _cache;

    public RegistryHandler(ModelStore store, string? upstream, long chunkSize, bool allowPush = false, PullThroughCache? cache = null)
    {
        _cache = cache;
        _store = store;
        _manifests = new ManifestLocator(store, upstream);
        _chunkSums = new ChunkSumsIndex(store, chunkSize);
        _push = allowPush ? new PushHandler(store, _manifests) : null;
    }

    /// <summary>The server's counters, served at <c>/metrics</c>; null serves none.</summary>
    public ServerMetrics? Metrics { get; set; }

    /// <summary>The push side; null when the server is read-only.</summary>
    public PushHandler? Push => _push;

    /// <summary>The chunksums lists of this server.</summary>
    public ChunkSumsIndex ChunkSums => _chunkSums;

    public async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        context.Response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        bool head = HttpMethods.IsHead(request.Method);
        bool read = head || HttpMethods.IsGet(request.Method);
        if (!read && _push is null)
        {
            context.Response.Headers.Allow = "GET, HEAD";
            await ErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "UNSUPPORTED", "this registry is read-only (regc serve --allow-push accepts pushes)").ConfigureAwait(false);
            return;
        }

        string path = request.Path.Value ?? string.Empty;
        if (read && path == "/metrics" && Metrics is not null)
        {
            await WriteAsync(context, StatusCodes.Status200OK, "text/plain; version=0.0.4; charset=utf-8", Metrics.Prometheus(), head).ConfigureAwait(false);
            return;
        }

        if (read && path == "/healthz")
        {
            // For load balancers: the store can be read. The upstream of a cache is not asked (a cache serves what it has).
            bool healthy = Directory.Exists(_store.Root);
            await WriteAsync(context, healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, "text/plain; charset=utf-8", healthy ? "ok\n"u8.ToArray() : "store missing\n"u8.ToArray(), head).ConfigureAwait(false);
            return;
        }

        if (path is "/v2" or "/v2/")
        {
            await WriteAsync(context, StatusCodes.Status200OK, "application/json", "{}"u8.ToArray(), head).ConfigureAwait(false);
            return;
        }

        if (!path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "NOT_FOUND", "only /v2/ is served").ConfigureAwait(false);
            return;
        }

        const string Uploads = "/blobs/uploads";
        int uploads = path.IndexOf(Uploads, StringComparison.Ordinal);
        if (uploads > 4 && _push is not null && (path.Length == uploads + Uploads.Length || path[uploads + Uploads.Length] == '/'))
        {
            string id = path[(uploads + Uploads.Length)..].Trim('/');
            if (await RepositoryAsync(context, path[4..uploads].Split('/')).ConfigureAwait(false) is { } target)
            {
                await _push.UploadAsync(context, target, id).ConfigureAwait(false);
            }

            return;
        }

        string[] segments = path[4..].Split('/');
        if (segments is ["_catalog"])
        {
            await CatalogAsync(context, head).ConfigureAwait(false);
            return;
        }

        if (segments.Length is < 3 or > 4)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "NAME_UNKNOWN", "expected /v2/<namespace>/<model>/{manifests,blobs,chunksums,tags,referrers}/...").ConfigureAwait(false);
            return;
        }

        string kind = segments[^2];
        string reference = segments[^1];
        if (await RepositoryAsync(context, segments[..^2]).ConfigureAwait(false) is not { } repository)
        {
            return;
        }

        if (!read)
        {
            if (kind == "manifests" && HttpMethods.IsPut(request.Method))
            {
                await _push!.ManifestAsync(context, repository, reference).ConfigureAwait(false);
            }
            else
            {
                await ErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "UNSUPPORTED", $"{request.Method} is not served on {kind}").ConfigureAwait(false);
            }

            return;
        }

        switch (kind)
        {
            case "manifests":
                await ManifestAsync(context, repository, reference, head).ConfigureAwait(false);
                break;
            case "blobs":
                await BlobAsync(context, repository, reference, head).ConfigureAwait(false);
                break;
            case "chunksums":
                await ChunkSumsAsync(context, repository, reference, head).ConfigureAwait(false);
                break;
            case "tags" when reference == "list":
                await TagsAsync(context, repository, head).ConfigureAwait(false);
                break;
            case "referrers":
                await ReferrersAsync(context, repository, reference, head).ConfigureAwait(false);
                break;
            default:
                await ErrorAsync(context, StatusCodes.Status404NotFound, "NOT_FOUND", $"unknown endpoint \"{kind}\"").ConfigureAwait(false);
                break;
        }
    }

    /// <summary>True once an error was answered or the client left.</summary>
    private static bool Answered(HttpContext context) =>
        context.Response.HasStarted || context.Response.StatusCode >= 400 || context.RequestAborted.IsCancellationRequested;

    /// <summary>
    /// Runs a request to the upstream of a pull-through cache; when it fails, answers 502 with the reason in one line
    /// (a client that left first gets nothing), and returns the default.
    /// </summary>
    private static async Task<T?> FromUpstreamAsync<T>(HttpContext context, Func<CancellationToken, Task<T>> call)
    {
        try
        {
            return await call(context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            context.Abort();
            return default;
        }
        catch (StoreException e)
        {
            await ErrorAsync(context, StatusCodes.Status500InternalServerError, "UNKNOWN", $"the cache's store failed: {e.Message}").ConfigureAwait(false);
            return default;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or DigestMismatchException or InvalidManifestException or TimeoutException or OperationCanceledException)
        {
            await ErrorAsync(context, StatusCodes.Status502BadGateway, "UNAVAILABLE", $"the upstream registry failed: {e.Message}").ConfigureAwait(false);
            return default;
        }
    }

    /// <summary>The repository <c>[namespace/]model</c> names; answers 400 itself and returns null when they are not a valid name.</summary>
    private static async Task<ModelName?> RepositoryAsync(HttpContext context, string[] parts)
    {
        string? error = null;
        if (parts.Length is 1 or 2
            && ModelName.TryParse($"{(parts.Length == 2 ? parts[0] : ModelName.DefaultNamespace)}/{parts[^1]}", out ModelName? repository, out error))
        {
            return repository;
        }

        await ErrorAsync(context, StatusCodes.Status400BadRequest, "NAME_INVALID", error ?? "a repository is [<namespace>/]<model>").ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// The referrers API (distribution-spec 1.1) for a manifest this store holds: an OCI index of the artifacts that
    /// name it as their subject. A store holds models, not artifacts, so the index is empty; clients then know there is
    /// nothing to look for under the referrers tag schema. Chunk digests come from the chunksums endpoint here.
    /// </summary>
    private async Task ReferrersAsync(HttpContext context, ModelName repository, string reference, bool head)
    {
        if (!Digest.TryParse(reference, out Digest digest))
        {
            await ErrorAsync(context, StatusCodes.Status400BadRequest, "DIGEST_INVALID", "a digest is sha256:<64 lower-case hex digits>").ConfigureAwait(false);
            return;
        }

        if (_manifests.FindByDigest(repository, digest) is null)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "MANIFEST_UNKNOWN", $"manifest unknown: {repository.Repository}@{digest}").ConfigureAwait(false);
            return;
        }

        if (!string.IsNullOrEmpty(context.Request.Query["artifactType"]))
        {
            context.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        }

        byte[] index = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[]}""");
        await WriteAsync(context, StatusCodes.Status200OK, MediaTypes.OciIndex, index, head).ConfigureAwait(false);
    }

    private async Task ManifestAsync(HttpContext context, ModelName repository, string reference, bool head)
    {
        string? file;
        byte[]? fetched = null;
        if (reference.StartsWith(Digest.Prefix, StringComparison.Ordinal))
        {
            if (!Digest.TryParse(reference, out Digest digest))
            {
                await ErrorAsync(context, StatusCodes.Status400BadRequest, "DIGEST_INVALID", "a digest is sha256:<64 lower-case hex digits>").ConfigureAwait(false);
                return;
            }

            file = _manifests.FindByDigest(repository, digest);
            if (file is null && _cache is not null)
            {
                fetched = await FromUpstreamAsync(context, token => _cache.GetByDigestAsync(repository, digest, token)).ConfigureAwait(false);
                if (Answered(context))
                {
                    return;
                }
            }
        }
        else
        {
            if (!ModelName.TryParse($"{repository.Namespace}/{repository.Model}:{reference}", out ModelName? tagged, out string? error))
            {
                await ErrorAsync(context, StatusCodes.Status400BadRequest, "TAG_INVALID", error).ConfigureAwait(false);
                return;
            }

            if (_cache is not null)
            {
                // A tag is the upstream's (asked again after its time to live); one only this store has is served as it is.
                fetched = await FromUpstreamAsync(context, token => _cache.GetTaggedAsync(tagged, token)).ConfigureAwait(false);
                if (Answered(context))
                {
                    return;
                }
            }

            file = fetched is null ? _manifests.FindByTag(tagged) : null;
        }

        byte[]? bytes = fetched ?? (file is null ? null : await ReadSmallFileAsync(file, context.RequestAborted).ConfigureAwait(false));
        if (bytes is null)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "MANIFEST_UNKNOWN", $"manifest unknown: {repository.Repository}:{reference}").ConfigureAwait(false);
            return;
        }

        context.Response.Headers["Docker-Content-Digest"] = Digest.Compute(bytes).ToString();
        await WriteAsync(context, StatusCodes.Status200OK, ManifestMediaType(bytes), bytes, head).ConfigureAwait(false);
    }

    /// <summary>
    /// Parses the digest and opens the blob (never through a symbolic link); answers 400 or 404 itself and returns
    /// null when it cannot.
    /// </summary>
    private async Task<(Digest Digest, SafeFileHandle Handle)?> OpenBlobAsync(HttpContext context, ModelName repository, string reference)
    {
        if (!Digest.TryParse(reference, out Digest digest))
        {
            await ErrorAsync(context, StatusCodes.Status400BadRequest, "DIGEST_INVALID", "a digest is sha256:<64 lower-case hex digits>").ConfigureAwait(false);
            return null;
        }

        if (_cache is not null && _store.GetBlobSize(digest) is null)
        {
            // Filled from the upstream once for everyone asking; this request waits for it (and leaving does not stop it).
            bool present = await FromUpstreamAsync(context, token => _cache.EnsureBlobAsync(repository, digest, token)).ConfigureAwait(false);
            if (Answered(context))
            {
                return null;
            }

            if (!present)
            {
                await ErrorAsync(context, StatusCodes.Status404NotFound, "BLOB_UNKNOWN", $"blob unknown here and upstream: {digest}").ConfigureAwait(false);
                return null;
            }
        }

        string path = _store.GetBlobPath(digest);
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.LinkTarget is not null)
            {
                throw new FileNotFoundException(path);
            }

            return (digest, File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "BLOB_UNKNOWN", $"blob unknown: {digest}").ConfigureAwait(false);
            return null;
        }
    }

    private async Task ChunkSumsAsync(HttpContext context, ModelName repository, string reference, bool head)
    {
        if (_cache is not null && Digest.TryParse(reference, out Digest filling) && _store.GetBlobSize(filling) is null)
        {
            // A blob still filling: the upstream's own list, at once, so clients take the chunk path (and are served
            // each chunk as the fill verifies it). Without one, the list is made here once the blob is in.
            byte[]? upstreamList = await FromUpstreamAsync(context, token => _cache.GetUpstreamChunkListAsync(repository, filling, token)).ConfigureAwait(false);
            if (Answered(context))
            {
                return;
            }

            if (upstreamList is not null)
            {
                context.Response.Headers.ContentLocation = $"/v2/{repository.Repository}/blobs/{filling}";
                context.Response.Headers["Docker-Content-Digest"] = filling.ToString();
                await WriteAsync(context, StatusCodes.Status200OK, "text/plain; charset=us-ascii", upstreamList, head).ConfigureAwait(false);
                return;
            }
        }

        if (await OpenBlobAsync(context, repository, reference).ConfigureAwait(false) is not (Digest digest, SafeFileHandle handle))
        {
            return;
        }

        long size;
        using (handle)
        {
            size = RandomAccess.GetLength(handle);
        }

        byte[] body = await _chunkSums.GetAsync(digest, size, context.RequestAborted).ConfigureAwait(false);
        context.Response.Headers.ContentLocation = $"/v2/{repository.Repository}/blobs/{digest}";
        context.Response.Headers["Docker-Content-Digest"] = digest.ToString();
        await WriteAsync(context, StatusCodes.Status200OK, "text/plain; charset=us-ascii", body, head).ConfigureAwait(false);
    }

    private async Task BlobAsync(HttpContext context, ModelName repository, string reference, bool head)
    {
        if (_cache is not null && Digest.TryParse(reference, out Digest wanted) && _store.GetBlobSize(wanted) is null)
        {
            // Not here yet: filled from the upstream once for everyone asking, and answered from what the fill has
            // verified as it goes (leaving does not stop the fill).
            PullThroughCache.Filling? filling = await FromUpstreamAsync(context, token => _cache.StartFillAsync(repository, wanted, token)).ConfigureAwait(false);
            if (Answered(context))
            {
                return;
            }

            if (filling is null)
            {
                await ErrorAsync(context, StatusCodes.Status404NotFound, "BLOB_UNKNOWN", $"blob unknown here and upstream: {wanted}").ConfigureAwait(false);
                return;
            }

            await ServeWhileFillingAsync(context, filling, head).ConfigureAwait(false);
            return;
        }

        if (await OpenBlobAsync(context, repository, reference).ConfigureAwait(false) is not (Digest digest, SafeFileHandle handle))
        {
            return;
        }

        using (handle)
        {
            if (await BlobHeadersAsync(context, digest, RandomAccess.GetLength(handle)).ConfigureAwait(false) is not var (start, length) || head)
            {
                return;
            }

            await CopyAsync(context, handle, start, length).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sets the headers of a blob's answer (digest, ETag, Accept-Ranges; 206 with Content-Range for a satisfiable range,
    /// else 200); answers 416 itself. Returns the bytes to send, or null when answered.
    /// </summary>
    private static async Task<(long Start, long Length)?> BlobHeadersAsync(HttpContext context, Digest digest, long size)
    {
        HttpResponse response = context.Response;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.AcceptRanges = "bytes";
        response.Headers.ETag = $"\"{digest}\"";
        response.ContentType = "application/octet-stream";
        RangeRequest range = RangeRequest.Parse(context.Request.Headers.Range.ToString(), size);
        if (range.Unsatisfiable)
        {
            response.Headers.ContentRange = $"bytes */{size}";
            await ErrorAsync(context, StatusCodes.Status416RangeNotSatisfiable, "RANGE_INVALID", $"the range is outside the blob's {size} bytes").ConfigureAwait(false);
            return null;
        }

        string? ifRange = context.Request.Headers.IfRange.ToString();
        bool partial = range.IsPartial && (string.IsNullOrEmpty(ifRange) || ifRange == response.Headers.ETag.ToString());
        long start = partial ? range.Start : 0;
        long length = partial ? range.Length : size;
        response.StatusCode = partial ? StatusCodes.Status206PartialContent : StatusCodes.Status200OK;
        if (partial)
        {
            response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{start + length - 1}/{size}");
        }

        response.ContentLength = length;
        return (start, length);
    }

    /// <summary>
    /// Answers a blob a pull-through fill is still fetching: each part is sent once the fill has verified it (its
    /// chunk matched its digest) from the blob's partial file, waiting for the rest; from <c>blobs/</c> once the fill is
    /// done. A fill that fails cuts the answer off (a client never takes a short body for a whole one).
    /// </summary>
    private async Task ServeWhileFillingAsync(HttpContext context, PullThroughCache.Filling filling, bool head)
    {
        Descriptor blob = filling.Blob;
        if (await BlobHeadersAsync(context, blob.Digest, blob.Size).ConfigureAwait(false) is not var (start, length) || head)
        {
            return;
        }

        long position = start, end = start + length - 1;
        try
        {
            while (position <= end)
            {
                (long available, Func<Memory<byte>, long, CancellationToken, ValueTask<int>>? read, bool ended, Task changed) = filling.Progress.At(position);
                if (ended && filling.Task.IsCompletedSuccessfully)
                {
                    using SafeFileHandle handle = File.OpenHandle(_store.GetBlobPath(blob.Digest), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
                    await CopyAsync(context, handle, position, end - position + 1).ConfigureAwait(false);
                    return;
                }

                if (ended && !filling.Task.IsCompletedSuccessfully)
                {
                    await FillFailedAsync(context, filling).ConfigureAwait(false); // the next request starts it again
                    return;
                }

                if (available > 0 && read is not null)
                {
                    long part = Math.Min(available, end - position + 1);
                    bool sent;
                    try
                    {
                        sent = await CopyAsync(context, read, position, part).ConfigureAwait(false);
                    }
                    catch (ObjectDisposedException)
                    {
                        // Committed (or given up) between the look and the read: once the fill has ended, the loop knows which.
                        await ((Task)filling.Task.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default))
                            .WaitAsync(context.RequestAborted).ConfigureAwait(false);
                        if (!filling.Task.IsCompletedSuccessfully)
                        {
                            await FillFailedAsync(context, filling).ConfigureAwait(false); // given up: the partial file is gone with it
                            return;
                        }

                        position = start + SentSoFar(context);
                        continue;
                    }

                    if (!sent)
                    {
                        return; // the client went away
                    }

                    position += part;
                    continue;
                }

                await changed.WaitAsync(context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the fill goes on.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            context.Abort();
        }
    }

    /// <summary>
    /// A fill this request was waiting on failed: before any byte went out, a 502 saying why; after, the answer is cut
    /// off (never a short body that looks whole).
    /// </summary>
    private static async Task FillFailedAsync(HttpContext context, PullThroughCache.Filling filling)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }

        context.Response.Clear();
        string reason = filling.Task.Exception?.InnerException?.Message ?? "the fill did not finish";
        await ErrorAsync(context, StatusCodes.Status502BadGateway, "UNAVAILABLE", $"the upstream registry failed: {reason}").ConfigureAwait(false);
    }

    /// <summary>Body bytes this request has sent so far.</summary>
    private static long SentSoFar(HttpContext context) =>
        context.Items.TryGetValue(AccessLog.BytesSentKey, out object? sent) && sent is long count ? count : 0;

    /// <summary>
    /// Sends <paramref name="length"/> bytes of the file from <paramref name="start"/>, read straight into the response's
    /// own buffers (no copy between a read buffer and Kestrel's). False when the client went away first.
    /// </summary>
    private static Task<bool> CopyAsync(HttpContext context, SafeFileHandle handle, long start, long length) =>
        CopyAsync(context, (buffer, offset, token) => RandomAccess.ReadAsync(handle, buffer, offset, token), start, length);

    /// <summary>As the file overload, with the bytes read by <paramref name="read"/> (buffer, offset, token).</summary>
    private static async Task<bool> CopyAsync(HttpContext context, Func<Memory<byte>, long, CancellationToken, ValueTask<int>> read, long start, long length)
    {
        PipeWriter body = context.Response.BodyWriter;
        long sent = 0;
        try
        {
            CancellationToken aborted = context.RequestAborted;
            while (sent < length)
            {
                int want = (int)Math.Min(CopyBufferSize, length - sent);
                int got = await read(body.GetMemory(want)[..want], start + sent, aborted).ConfigureAwait(false);
                if (got == 0)
                {
                    // The file shrank under us: never end a response short and clean.
                    context.Abort();
                    return false;
                }

                body.Advance(got);
                sent += got;
                FlushResult flushed = await body.FlushAsync(aborted).ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    return false; // the connection is gone
                }
            }

            return true;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return false; // the client went away; the access log shows how much it got
        }
        finally
        {
            context.Items[AccessLog.BytesSentKey] = (context.Items.TryGetValue(AccessLog.BytesSentKey, out object? before) && before is long earlier ? earlier : 0) + sent;
        }
    }

    private async Task TagsAsync(HttpContext context, ModelName repository, bool head)
    {
        List<string> tags = _manifests.Tags(repository);
        if (tags.Count == 0)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "NAME_UNKNOWN", $"repository unknown: {repository.Repository}").ConfigureAwait(false);
            return;
        }

        IQueryCollection query = context.Request.Query;
        string? last = query["last"];
        if (last is not null)
        {
            tags = tags.Where(t => string.CompareOrdinal(t, last) > 0).ToList();
        }

        int n = int.TryParse(query["n"], NumberStyles.None, CultureInfo.InvariantCulture, out int asked) ? Math.Clamp(asked, 0, MaxTagsPage) : MaxTagsPage;
        if (n == 0)
        {
            tags = [];
        }
        else if (tags.Count > n)
        {
            tags = tags.Take(n).ToList();
            string next = $"/v2/{repository.Repository}/tags/list?n={n}&last={Uri.EscapeDataString(tags[^1])}";
            context.Response.Headers.Link = $"<{next}>; rel=\"next\"";
        }

        byte[] body = Json(writer =>
        {
            writer.WriteString("name", repository.Repository);
            WriteStrings(writer, "tags", tags);
        });
        await WriteAsync(context, StatusCodes.Status200OK, "application/json", body, head).ConfigureAwait(false);
    }

    private async Task CatalogAsync(HttpContext context, bool head)
    {
        List<string> repositories = _manifests.Repositories();
        byte[] body = Json(writer => WriteStrings(writer, "repositories", repositories));
        await WriteAsync(context, StatusCodes.Status200OK, "application/json", body, head).ConfigureAwait(false);
    }

    private static string ManifestMediaType(byte[] bytes)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            JsonElement root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("mediaType", out JsonElement type)
                && type.ValueKind == JsonValueKind.String && type.GetString() is { Length: > 0 and < 256 } value)
            {
                return value;
            }

            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("manifests", out _))
            {
                return MediaTypes.OciIndex; // an index without mediaType (OCI makes it optional)
            }
        }
        catch (JsonException)
        {
            // Served as stored; the default type below.
        }

        return MediaTypes.DockerManifest;
    }

    /// <summary>A manifest-sized file (at most <see cref="ModelStore.MaxManifestBytes"/>, never through a link); null when there is none.</summary>
    internal static async Task<byte[]?> ReadSmallFileAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.LinkTarget is not null || info.Length > ModelStore.MaxManifestBytes)
            {
                return null;
            }

            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static async Task WriteAsync(HttpContext context, int status, string contentType, byte[] body, bool head)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        if (!head)
        {
            await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
            context.Items[AccessLog.BytesSentKey] = (long)body.Length;
        }
    }

    internal static Task ErrorAsync(HttpContext context, int status, string code, string message)
    {
        byte[] body = Json(writer =>
        {
            writer.WriteStartArray("errors");
            writer.WriteStartObject();
            writer.WriteString("code", code);
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndArray();
        });
        return WriteAsync(context, status, "application/json", body, HttpMethods.IsHead(context.Request.Method));
    }

    /// <summary>A JSON object written by <paramref name="members"/> (no reflection: the server runs as a native binary too).</summary>
    private static byte[] Json(Action<Utf8JsonWriter> members)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            members(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteStrings(Utf8JsonWriter writer, string name, IEnumerable<string> values)
    {
        writer.WriteStartArray(name);
        foreach (string value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }
}
