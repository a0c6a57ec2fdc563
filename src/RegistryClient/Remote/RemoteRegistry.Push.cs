using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Remote;

/// <summary>The writing half of the registry API: blob existence, upload sessions, chunks, manifests.</summary>
/// <remarks>
/// Requests that cannot be sent twice safely (a chunk appended to an upload session) are sent once and never retried
/// here: after a failure the caller asks where the session stands (<see cref="GetUploadStatusAsync"/>) and continues
/// from there, because a registry may append a chunk sent twice (distribution 2.8 ignores <c>Content-Range</c>).
/// </remarks>
public sealed partial class RemoteRegistry
{
    /// <summary>The size of a blob the registry has (<c>HEAD</c>, following a redirect to storage), or null when it does not have it.</summary>
    /// <exception cref="RegistryResponseException">The registry answered an error other than 404, after retries.</exception>
    public async Task<long?> GetBlobSizeAsync(ModelName repository, Digest digest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        Uri uri = GetBlobUri(repository, digest);
        return await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(HttpMethod.Head, uri, null, idle.Token, followRedirects: true).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return (long?)null;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw await CreateErrorAsync(response, repository, idle.Token).ConfigureAwait(false);
                }

                return response.Content.Headers.ContentLength is { } length && length >= 0
                    ? length
                    : throw new RegistryProtocolException($"HEAD {Redact(uri)} gave no Content-Length for the blob", isTransient: false);
            },
            cancellationToken,
            "HEAD").ConfigureAwait(false);
    }

    /// <summary>
    /// True when the registry has <paramref name="blob"/> in <paramref name="repository"/>'s repository with its size
    /// (<c>HEAD</c>; a redirect to storage counts as yes); false on 404.
    /// </summary>
    /// <exception cref="RegistryResponseException">The registry answered another error, after retries.</exception>
    public async Task<bool> HasBlobAsync(ModelName repository, Descriptor blob, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        Uri uri = GetBlobUri(repository, blob.Digest);
        return await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(HttpMethod.Head, uri, null, idle.Token, followRedirects: false).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return false;
                }

                if (IsRedirect(response.StatusCode))
                {
                    return true;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw await CreateErrorAsync(response, repository, idle.Token).ConfigureAwait(false);
                }

                return response.Content.Headers.ContentLength is not { } length || length == blob.Size;
            },
            cancellationToken,
            "HEAD").ConfigureAwait(false);
    }

    /// <summary>
    /// Starts an upload session in <paramref name="repository"/>'s repository (<c>POST …/blobs/uploads/</c>), or, with
    /// <paramref name="mountFrom"/> (another repository of the same registry), asks to mount <paramref name="blob"/> from
    /// there: null then means it was mounted (nothing to upload); a registry that cannot mount opens a session instead.
    /// </summary>
    /// <exception cref="RegistryResponseException">
    /// The registry refused: a read-only registry (405), missing or insufficient credentials (401/403); the message says which.
    /// </exception>
    public async Task<BlobUpload?> StartUploadAsync(ModelName repository, Descriptor blob, ModelName? mountFrom = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        string query = mountFrom is null ? string.Empty : $"?mount={blob.Digest}&from={Uri.EscapeDataString(mountFrom.Repository)}";
        var uri = new Uri(BaseUri(repository), $"v2/{repository.Repository}/blobs/uploads/{query}");
        return await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(
                    HttpMethod.Post, uri, request => request.Content = new ByteArrayContent([]), idle.Token, followRedirects: false).ConfigureAwait(false);
                if (mountFrom is not null && response.StatusCode == HttpStatusCode.Created)
                {
                    if (response.Headers.TryGetValues("Docker-Content-Digest", out IEnumerable<string>? mounted) && mounted.First() != blob.Digest.ToString())
                    {
                        throw new RegistryProtocolException($"{repository.Host} answered a mount of {blob.Digest} with another blob ({Digest.Printable(mounted.First())})", isTransient: false);
                    }

                    return null;
                }

                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    throw await CreateWriteErrorAsync(response, repository, idle.Token).ConfigureAwait(false);
                }

                long minChunk = response.Headers.TryGetValues("OCI-Chunk-Min-Length", out IEnumerable<string>? values)
                    && long.TryParse(values.First(), NumberStyles.None, CultureInfo.InvariantCulture, out long min) ? min : 0;
                return new BlobUpload(UploadLocation(response, uri), 0, minChunk);
            },
            cancellationToken,
            "POST").ConfigureAwait(false);
    }

    /// <summary>
    /// Where an upload session stands (<c>GET</c> its location: 204 with <c>Range: 0-&lt;last&gt;</c>): the session with the
    /// offset of its next byte, or null when the registry no longer knows it (expired, finished or never valid).
    /// </summary>
    /// <exception cref="RegistryResponseException">The registry answered another error, after retries.</exception>
    public async Task<BlobUpload?> GetUploadStatusAsync(ModelName repository, BlobUpload upload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(upload);
        Uri uri = upload.Location;
        return await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(HttpMethod.Get, uri, null, idle.Token, followRedirects: false).ConfigureAwait(false);
                if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone or HttpStatusCode.BadRequest)
                {
                    return null;
                }

                if (response.StatusCode != HttpStatusCode.NoContent && response.StatusCode != HttpStatusCode.OK)
                {
                    throw await CreateWriteErrorAsync(response, repository, idle.Token).ConfigureAwait(false);
                }

                // "0-0" is what distribution says of an empty session (and of one holding a single byte, which a
                // pusher that sends larger chunks never leaves): read it as empty.
                return upload with { Location = UploadLocation(response, uri), Offset = AcknowledgedEnd(response) is { } last and > 0 ? last + 1 : 0 };
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Appends <paramref name="length"/> bytes to an upload session at its offset (<c>PATCH</c> with <c>Content-Range</c>),
    /// read from the stream <paramref name="open"/> gives (called once per attempt, positioned at the session's offset).
    /// Sent once: after any failure ask <see cref="GetUploadStatusAsync"/> where the session stands before sending more.
    /// A body the registry stops taking for <see cref="RegistryOptions.RequestTimeout"/> is a stall.
    /// </summary>
    /// <returns>The session after the chunk: its next location and offset as the registry acknowledged them.</returns>
    /// <exception cref="RegistryResponseException">The registry refused the chunk (416: not where the session stands).</exception>
    /// <exception cref="ChunkedUploadRefusedException">The registry takes no chunks (405, 501, or a 201 as if the upload were done).</exception>
    /// <exception cref="RegistryProtocolException">The registry acknowledged a different range than was sent.</exception>
    /// <exception cref="StallTimeoutException">The registry stopped taking the bytes, or did not answer.</exception>
    public async Task<BlobUpload> UploadChunkAsync(
        ModelName repository, BlobUpload upload, Func<Stream> open, long length, IProgress<long>? sent = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(upload);
        ArgumentNullException.ThrowIfNull(open);
        long end = upload.Offset + length - 1;
        using HttpResponseMessage response = await SendUploadAsync(HttpMethod.Patch, upload.Location, open, upload.Offset, length, sent, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented)
        {
            string answer = response.StatusCode == HttpStatusCode.Created ? "answered it as a finished upload (201)" : $"refused it ({(int)response.StatusCode})";
            throw new ChunkedUploadRefusedException($"{repository.Host} does not take uploads in chunks: a PATCH of bytes {upload.Offset}-{end} {answer}");
        }

        if (response.StatusCode != HttpStatusCode.Accepted && response.StatusCode != HttpStatusCode.NoContent)
        {
            throw await CreateWriteErrorAsync(response, repository, cancellationToken).ConfigureAwait(false);
        }

        long? acknowledged = AcknowledgedEnd(response);
        if (acknowledged is { } last && last != end)
        {
            throw new RegistryProtocolException(
                $"{Redact(upload.Location)} acknowledged bytes up to {last} after a chunk of bytes {upload.Offset}-{end}", isTransient: true);
        }

        return upload with { Location = UploadLocation(response, upload.Location), Offset = end + 1 };
    }

    /// <summary>
    /// Closes an upload session (<c>PUT ?digest=</c>), with the session's last <paramref name="length"/> bytes from
    /// <paramref name="open"/> when given; the registry checks the whole blob against <paramref name="digest"/>. Sent
    /// once, as a chunk is.
    /// </summary>
    /// <exception cref="RegistryResponseException">The registry refused (400 DIGEST_INVALID when the bytes it has do not hash to the digest).</exception>
    public async Task CompleteUploadAsync(
        ModelName repository, BlobUpload upload, Digest digest, Func<Stream>? open = null, long length = 0, IProgress<long>? sent = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(upload);
        Uri location = upload.Location;
        var uri = new UriBuilder(location) { Query = (location.Query.Length > 1 ? location.Query[1..] + "&" : string.Empty) + "digest=" + Uri.EscapeDataString(digest.ToString()) }.Uri;
        using HttpResponseMessage response = await SendUploadAsync(HttpMethod.Put, uri, open, upload.Offset, open is null ? 0 : length, sent, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.NoContent or HttpStatusCode.OK))
        {
            throw await CreateWriteErrorAsync(response, repository, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends upload bytes (none when <paramref name="open"/> is null) with a stall bound on the body and on the answer.</summary>
    private async Task<HttpResponseMessage> SendUploadAsync(
        HttpMethod method, Uri uri, Func<Stream>? open, long offset, long length, IProgress<long>? sent, CancellationToken cancellationToken)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(Options.RequestTimeout);
        try
        {
            return await SendAsync(
                method,
                uri,
                request =>
                {
                    HttpContent content = open is null
                        ? new ByteArrayContent([])
                        : new UploadContent(open, length, () => stall.CancelAfter(Options.RequestTimeout), sent);
                    content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    content.Headers.ContentLength = length;
                    if (length > 0)
                    {
                        content.Headers.TryAddWithoutValidation("Content-Range", string.Create(CultureInfo.InvariantCulture, $"{offset}-{offset + length - 1}"));
                    }

                    request.Content = content;
                },
                stall.Token,
                followRedirects: false).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stall.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            string seconds = Options.RequestTimeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);
            throw new StallTimeoutException($"{method} {Redact(uri)} made no progress for {seconds} s", isTransient: true) { Reason = $"no progress in {seconds} s" };
        }
    }

    /// <summary>
    /// Puts manifest bytes under <paramref name="reference"/> (a tag or their digest) with their media type; the
    /// registry's <c>Docker-Content-Digest</c>, when sent, must be the bytes' own.
    /// </summary>
    /// <exception cref="RegistryResponseException">The registry refused the manifest (a missing blob: MANIFEST_BLOB_UNKNOWN).</exception>
    /// <exception cref="DigestMismatchException">The registry announced another digest for the bytes.</exception>
    /// <returns>True when the registry said it indexed the manifest's <c>subject</c> (an <c>OCI-Subject</c> header: it has the referrers API).</returns>
    public async Task<bool> PutManifestAsync(ModelName repository, string reference, ReadOnlyMemory<byte> bytes, string mediaType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var uri = new Uri(BaseUri(repository), $"v2/{repository.Repository}/manifests/{reference}");
        Digest expected = Digest.Compute(bytes.Span);
        return await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(
                    HttpMethod.Put,
                    uri,
                    request =>
                    {
                        request.Content = new ReadOnlyMemoryContent(bytes);
                        request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                    },
                    idle.Token,
                    followRedirects: false).ConfigureAwait(false);
                if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted))
                {
                    throw await CreateWriteErrorAsync(response, repository, idle.Token).ConfigureAwait(false);
                }

                if (response.Headers.TryGetValues("Docker-Content-Digest", out IEnumerable<string>? values)
                    && Digest.TryParse(values.First(), out Digest announced) && announced != expected)
                {
                    throw new DigestMismatchException($"{Redact(uri)} stored the manifest as {announced}, but its bytes hash to {expected}");
                }

                return response.Headers.Contains("OCI-Subject");
            },
            cancellationToken,
            "PUT").ConfigureAwait(false);
    }

    /// <summary>Uploads a small blob held in memory in one request (skipped when the registry has it).</summary>
    /// <exception cref="RegistryResponseException">The registry refused.</exception>
    public async Task PushBytesAsync(ModelName repository, Descriptor blob, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        if (await HasBlobAsync(repository, blob, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        BlobUpload upload = (await StartUploadAsync(repository, blob, null, cancellationToken).ConfigureAwait(false))!;
        await CompleteUploadAsync(repository, upload, blob.Digest, () => new MemoryStream(bytes.ToArray(), writable: false), bytes.Length, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The chunk lists that travel beside <paramref name="manifest"/> in <paramref name="name"/>'s repository
    /// (<see cref="ChunkIndexArtifact"/>): the descriptor of each blob's list, found through the referrers API, else the
    /// referrers tag schema; null when there are none. Fetch a list with <see cref="GetChunkSumsFromIndexAsync"/>.
    /// </summary>
    public async Task<IReadOnlyDictionary<Digest, Descriptor>?> GetChunkIndexAsync(ModelName name, Digest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        byte[]? referrers = await GetReferrersAsync(name, manifest, cancellationToken).ConfigureAwait(false);
        if (referrers is null)
        {
            try
            {
                referrers = (await GetManifestAsync(name, ChunkIndexArtifact.ReferrersTag(manifest), cancellationToken).ConfigureAwait(false)).Bytes.ToArray();
            }
            catch (ModelNotFoundException)
            {
                return null;
            }
        }

        foreach (Descriptor artifact in ChunkIndexArtifact.FindInReferrers(referrers).Take(MaxChunkIndexCandidates))
        {
            FetchedManifest fetched = await GetManifestAsync(name, artifact.Digest, cancellationToken).ConfigureAwait(false);
            IReadOnlyDictionary<Digest, Descriptor> lists = ChunkIndexArtifact.ReadLists(fetched.Bytes.Span, manifest);
            if (lists.Count > 0)
            {
                return lists;
            }
        }

        return null;
    }

    /// <summary>Artifacts of the chunk index type looked at for one manifest (another tool may list several).</summary>
    private const int MaxChunkIndexCandidates = 3;

    /// <summary>
    /// The chunksums of <paramref name="blob"/> from its list in a chunk index: at most the list's announced size is
    /// read (each attempt bounded by the request timeout), its bytes must hash to the list's digest, and the list is
    /// validated against the blob's size like a chunksums answer; null when it does not fit (a hint that does not fit
    /// is ignored, never trusted). The blob's bytes are then fetched from its own URL.
    /// </summary>
    public async Task<ChunkSums?> GetChunkSumsFromIndexAsync(ModelName name, Descriptor blob, Descriptor list, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(list);
        if (list.Size > ChunkList.MaxBodyBytes)
        {
            return null;
        }

        Uri uri = GetBlobUri(name, list.Digest);
        byte[] bytes = await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(HttpMethod.Get, uri, null, idle.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw await CreateErrorAsync(response, null, idle.Token).ConfigureAwait(false);
                }

                return await ReadAtMostAsync(response, (int)list.Size, idle.Token, idle).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        if (bytes.Length != list.Size || Digest.Compute(bytes) != list.Digest)
        {
            LogUnfitChunkIndex(_logger, blob.Digest.Short, "its bytes do not match their descriptor");
            return null;
        }

        try
        {
            return ChunkSumsAt(name, blob, ChunkList.Parse(bytes, blob.Size, blob.Digest));
        }
        catch (InvalidChunkListException e)
        {
            LogUnfitChunkIndex(_logger, blob.Digest.Short, e.Message);
            return null;
        }
    }

    /// <summary>Chunksums for <paramref name="blob"/> from a list known otherwise (kept by the store), fetched from the blob's own URL.</summary>
    public ChunkSums ChunkSumsAt(ModelName name, Descriptor blob, ChunkList list)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new ChunkSums(GetBlobUri(name, blob.Digest), list);
    }

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Debug, Message = "the chunk index's list for {Blob} does not fit the blob ({Problem}); not used")]
    private static partial void LogUnfitChunkIndex(Microsoft.Extensions.Logging.ILogger logger, string blob, string problem);

    /// <summary>The referrers API's index of <paramref name="subject"/> filtered to the chunk index; null where the registry has no such API (404).</summary>
    private async Task<byte[]?> GetReferrersAsync(ModelName name, Digest subject, CancellationToken cancellationToken)
    {
        var uri = new Uri(BaseUri(name), $"v2/{name.Repository}/referrers/{subject}?artifactType={Uri.EscapeDataString(ChunkIndexArtifact.ArtifactType)}");
        return await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(HttpMethod.Get, uri, null, idle.Token).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw await CreateErrorAsync(response, null, idle.Token).ConfigureAwait(false);
                }

                byte[] body = await ReadAtMostAsync(response, ChunkIndexArtifact.MaxBytes, idle.Token, idle).ConfigureAwait(false);
                return body.Length > ChunkIndexArtifact.MaxBytes ? null : body;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when <paramref name="location"/> is on <paramref name="repository"/>'s registry: the same scheme, host and port (a recorded upload is never asked about elsewhere).</summary>
    public bool IsOnOrigin(ModelName repository, Uri location)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(location);
        return Uri.Compare(BaseUri(repository), location, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;
    }

    /// <summary>The error for a refused write, saying what to do: a read-only registry, or credentials that may not push.</summary>
    private async Task<RegistryResponseException> CreateWriteErrorAsync(HttpResponseMessage response, ModelName repository, CancellationToken cancellationToken)
    {
        string method = response.RequestMessage?.Method.Method ?? "POST";
        string authority = response.RequestMessage?.RequestUri is { } asked ? RegistryAuthenticator.Authority(asked) : repository.Host;
        string uri = response.RequestMessage?.RequestUri is { } requested ? Redact(requested) : "?";
        return response.StatusCode switch
        {
            HttpStatusCode.MethodNotAllowed => new RegistryResponseException(
                $"{authority} refuses writes ({method} answered 405 Method Not Allowed): the registry is read-only; push to one that takes uploads",
                HttpStatusCode.MethodNotAllowed, null, null, method, uri),
            HttpStatusCode.Forbidden => new RegistryResponseException(
                $"{authority} forbids pushing to {repository.Repository} ({method} answered 403 Forbidden): these credentials may pull but not push there",
                HttpStatusCode.Forbidden, null, null, method, uri),
            _ => await CreateErrorAsync(response, null, cancellationToken).ConfigureAwait(false),
        };
    }

    /// <summary>The session's next location: the response's <c>Location</c> (resolved, http(s) only, no downgrade), else the one used.</summary>
    private static Uri UploadLocation(HttpResponseMessage response, Uri used) =>
        response.Headers.Location is { } header ? ResolveFollowUp(header, used, $"the upload session at {Redact(used)} points") : used;

    /// <summary>The last byte an upload session holds, from its <c>Range: 0-&lt;last&gt;</c> header; null when absent (nothing yet).</summary>
    private static long? AcknowledgedEnd(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Range", out IEnumerable<string>? values))
        {
            return null;
        }

        string range = values.First();
        if (range.StartsWith("bytes=", StringComparison.Ordinal))
        {
            range = range[6..];
        }

        int dash = range.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0
            || !long.TryParse(range.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out long first) || first != 0
            || !long.TryParse(range.AsSpan(dash + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long last) || last < -1)
        {
            throw new RegistryProtocolException($"the registry sent an upload Range header \"{Digest.Printable(range)}\" that is not 0-<last byte>", isTransient: false);
        }

        return last;
    }
}

/// <summary>An upload session of a registry: where to send its next bytes, and how many it holds.</summary>
/// <param name="Location">The URL for the next request (each answer may give a new one; only the latest is valid).</param>
/// <param name="Offset">Bytes the session holds: the next chunk starts here.</param>
/// <param name="MinChunkLength">The registry's smallest chunk (<c>OCI-Chunk-Min-Length</c>), 0 when it set none.</param>
public sealed record BlobUpload(Uri Location, long Offset, long MinChunkLength);
