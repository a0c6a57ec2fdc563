using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Remote;

/// <summary>
/// Speaks the registry HTTP API (OCI distribution-spec v1.1 / Docker Registry v2) for reading: manifests and
/// blob ranges. It never touches the disk.
/// </summary>
/// <remarks>
/// The <see cref="HttpClient"/> given must not follow redirects itself (the handler's <c>AllowAutoRedirect</c>
/// off) and should have an infinite <see cref="HttpClient.Timeout"/>: this type follows redirects so that it
/// can refuse downgrades, and bounds each request by its own timeouts. Immutable and safe to share between threads.
/// </remarks>
public sealed partial class RemoteRegistry
{
    private const int MaxErrorBodyBytes = 64 << 10;

    /// <summary>Timeouts of one small request after which it is not tried again.</summary>
    internal const int MaxTimeouts = 3;

    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a client over <paramref name="httpClient"/>.</summary>
    /// <param name="httpClient">The client to send with; see the remarks for how its handler must be set up.</param>
    /// <param name="options">Options; null means the defaults of <see cref="RegistryOptions"/>.</param>
    /// <param name="logger">Logger for requests and retries (Debug); null means none.</param>
    /// <param name="timeProvider">Clock for delays and timeouts; null means the system clock.</param>
    /// <param name="tokenCache">Where Bearer tokens are kept until they expire; null means a cache of this client's own.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public RemoteRegistry(
        HttpClient httpClient, RegistryOptions? options = null, ILogger<RemoteRegistry>? logger = null, TimeProvider? timeProvider = null, IMemoryCache? tokenCache = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        Options = options ?? new RegistryOptions();
        Options.Validate();
        _http = httpClient;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _pipeline = RetryPipeline.Build(_logger, _timeProvider);
#pragma warning disable CA2000 // Lives as long as this client; MemoryCache holds no unmanaged resource.
        _auth = new RegistryAuthenticator(_http, Options, tokenCache ?? new MemoryCache(new MemoryCacheOptions()), _logger, _timeProvider);
#pragma warning restore CA2000
    }

    private readonly RegistryAuthenticator _auth;

    /// <summary>The options in force.</summary>
    public RegistryOptions Options { get; }

    /// <summary>The retry pipeline every request of this client goes through, each execution with its own <see cref="RetryBudget"/>.</summary>
    private readonly ResiliencePipeline _pipeline;

    /// <summary>Per origin (scheme, host, port): <see cref="Answered"/> once it sent any response, <see cref="Succeeded"/> once a 2xx or 3xx.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _contact = new(StringComparer.OrdinalIgnoreCase);

    private const int Answered = 1;
    private const int Succeeded = 2;

    internal TimeProvider TimeProvider => _timeProvider;

    /// <summary>A retry budget for one request or transfer of this client (see <see cref="RetryBudget"/>).</summary>
    internal RetryBudget CreateBudget(string subject, Func<long>? meter = null, int maxStalls = 0, Action<RetryNotice>? onRetry = null) =>
        new(subject, Options, meter, maxStalls, onRetry);

    /// <summary>
    /// Runs <paramref name="attempt"/> through the retry pipeline until it succeeds or <paramref name="budget"/> says stop.
    /// When the budget ends on a bare network failure (a reset, a cut body), that failure is thrown as one line naming
    /// the subject, the cause and the attempts (<see cref="RetriesExhaustedException"/>); a stall says how many came
    /// without progress; the project's other exceptions say enough already and pass as they are.
    /// </summary>
    internal async Task<T> ExecuteAsync<T>(Func<CancellationToken, Task<T>> attempt, RetryBudget budget, CancellationToken cancellationToken)
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(RetryPipeline.BudgetKey, budget);
        try
        {
            return await _pipeline.ExecuteAsync(
                static async (ctx, run) => await run(ctx.CancellationToken).ConfigureAwait(false), context, attempt).ConfigureAwait(false);
        }
        catch (StallTimeoutException e) when (budget.GaveUpBecause is { } why)
        {
            throw new StallTimeoutException(
                $"{e.Message}; {why}: the registry or the network is not delivering (try again later, or raise --stall-timeout)", isTransient: false)
            {
                Reason = e.Reason,
            };
        }
        catch (Exception e) when (budget.GaveUpBecause is { } why && e is not (RegistryResponseException or RegistryProtocolException or RegistryUnreachableException))
        {
            throw new RetriesExhaustedException(
                $"{budget.Subject}: {TransientFaults.Describe(e)}, {why}; the registry or the network keeps dropping the transfer (run the command again later: verified bytes are kept)",
                e);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>As <see cref="ExecuteAsync{T}(Func{CancellationToken, Task{T}}, RetryBudget, CancellationToken)"/> for an attempt without a result.</summary>
    internal Task ExecuteAsync(Func<CancellationToken, Task> attempt, RetryBudget budget, CancellationToken cancellationToken) =>
        ExecuteAsync(
            async token =>
            {
                await attempt(token).ConfigureAwait(false);
                return true;
            },
            budget,
            cancellationToken);

    private static string Origin(Uri uri) => uri.GetLeftPart(UriPartial.Authority);

    /// <summary>True once <paramref name="uri"/>'s origin sent any response to this client.</summary>
    internal bool HasAnswered(Uri uri) => _contact.TryGetValue(Origin(uri), out int state) && state >= Answered;

    private bool HasSucceeded(Uri uri) => _contact.TryGetValue(Origin(uri), out int state) && state >= Succeeded;

    private void NoteAnswer(Uri uri, HttpStatusCode status)
    {
        int state = (int)status < 400 ? Succeeded : Answered;
        _contact.AddOrUpdate(Origin(uri), state, (_, old) => Math.Max(old, state));
    }

    /// <summary>
    /// Checks that the registry at <paramref name="registry"/> (its base URL) lets this client in: <c>GET /v2/</c>,
    /// answering its challenge as any request would. For <c>regc login</c>.
    /// </summary>
    /// <exception cref="RegistryResponseException">The registry or its token server refused, or answered an error.</exception>
    public async Task CheckAccessAsync(Uri registry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var uri = new Uri(registry, "/v2/");
        await ExecuteWithTimeoutAsync(
            uri,
            async idle =>
            {
                using HttpResponseMessage response = await SendAsync(HttpMethod.Get, uri, null, idle.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw await CreateErrorAsync(response, null, idle.Token).ConfigureAwait(false);
                }

                return true;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The registry's base URL for <paramref name="name"/>: plain http only where the name says so or its host is insecure.</summary>
    private Uri BaseUri(ModelName name) => name.RegistryUri(Options.IsInsecure(name.Host));

    /// <summary>The URL of a blob: <c>/v2/&lt;ns&gt;/&lt;model&gt;/blobs/&lt;digest&gt;</c>.</summary>
    internal Uri GetBlobUri(ModelName name, Digest digest) => new(BaseUri(name), $"v2/{name.Repository}/blobs/{digest}");

    /// <summary>
    /// The blob <paramref name="blob"/> of <paramref name="repository"/>'s repository as a source to read ranges from,
    /// optionally at a <paramref name="location"/> known to serve it (a chunksums <c>Content-Location</c>).
    /// </summary>
    public RegistryBlobSource GetBlobSource(ModelName repository, Descriptor blob, Uri? location = null)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return new RegistryBlobSource(this, repository, blob, location);
    }

    /// <summary>
    /// Opens a whole blob for reading. The stream's bytes are checked as they are read: at its end the length and the
    /// SHA-256 must be the descriptor's, else the last read throws <see cref="DigestMismatchException"/>. Opening is
    /// retried like any request; a break while reading is the caller's (read ranges through
    /// <see cref="GetBlobSource"/> to continue where it stopped).
    /// </summary>
    /// <exception cref="RegistryResponseException">The registry answered with an error (404 when it lacks the blob), after retries.</exception>
    /// <exception cref="RegistryUnreachableException">The registry could not be reached.</exception>
    public async Task<Stream> OpenBlobAsync(ModelName repository, Descriptor blob, CancellationToken cancellationToken = default)
    {
        RegistryBlobSource source = GetBlobSource(repository, blob);
        Stream body = await OpenWithRetriesAsync(GetBlobUri(repository, blob.Digest), token => source.OpenAsync(token), cancellationToken).ConfigureAwait(false);
        return new VerifyingStream(body, blob);
    }

    /// <summary>
    /// Opens bytes <paramref name="start"/> to <paramref name="end"/> (inclusive) of a blob, checked to be exactly that
    /// range (<c>Content-Range</c>, length, no encoding); the bytes themselves are not verified. Opening is retried like
    /// any request.
    /// </summary>
    /// <exception cref="RangeNotSupportedException">The registry ignores Range for this blob.</exception>
    /// <exception cref="RegistryResponseException">The registry answered with an error, after retries.</exception>
    public Task<Stream> OpenBlobRangeAsync(ModelName repository, Descriptor blob, long start, long end, CancellationToken cancellationToken = default)
    {
        RegistryBlobSource source = GetBlobSource(repository, blob);
        return OpenWithRetriesAsync(GetBlobUri(repository, blob.Digest), token => source.OpenRangeAsync(start, end, token), cancellationToken);
    }

    /// <summary>Opens a body through the retry pipeline, each attempt bounded by the request timeout until the answer's headers.</summary>
    private Task<Stream> OpenWithRetriesAsync(Uri uri, Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken) =>
        ExecuteWithTimeoutAsync(uri, idle => open(idle.Token), cancellationToken);

    /// <summary>
    /// Fetches a manifest (or index) by tag or digest, reading at most <see cref="RegistryOptions.MaxManifestBytes"/>.
    /// The bytes are checked against <c>Docker-Content-Digest</c> when the registry sends it, and against the
    /// name's digest when the name is pinned.
    /// </summary>
    /// <exception cref="ModelNotFoundException">The registry has no such model or tag.</exception>
    /// <exception cref="RegistryResponseException">The registry answered with another error, after retries.</exception>
    /// <exception cref="InvalidManifestException">The manifest is larger than allowed.</exception>
    /// <exception cref="DigestMismatchException">The bytes do not match the digest announced or asked for.</exception>
    public Task<FetchedManifest> GetManifestAsync(ModelName name, CancellationToken cancellationToken = default)
    {
        return GetManifestAsync(name, name?.Reference!, cancellationToken);
    }

    /// <summary>Fetches a manifest of <paramref name="name"/>'s repository by another reference (a child of an index).</summary>
    /// <exception cref="ModelNotFoundException">The registry has no such manifest.</exception>
    /// <exception cref="RegistryResponseException">The registry answered with another error, after retries.</exception>
    /// <exception cref="InvalidManifestException">The manifest is larger than allowed.</exception>
    /// <exception cref="DigestMismatchException">The bytes do not match the digest announced or asked for.</exception>
    public async Task<FetchedManifest> GetManifestAsync(ModelName name, Digest digest, CancellationToken cancellationToken = default)
    {
        return await GetManifestAsync(name, digest.ToString(), cancellationToken).ConfigureAwait(false);
    }

    private async Task<FetchedManifest> GetManifestAsync(ModelName name, string reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        var uri = new Uri(BaseUri(name), $"v2/{name.Repository}/manifests/{reference}");
        Digest? pinned = Digest.TryParse(reference, out Digest parsed) ? parsed : null;
        return await ExecuteWithTimeoutAsync(uri, idle => FetchManifestOnceAsync(name, uri, pinned, idle), cancellationToken).ConfigureAwait(false);
    }

    private async Task<FetchedManifest> FetchManifestOnceAsync(ModelName name, Uri uri, Digest? pinned, IdleTimeout idle)
    {
        CancellationToken cancellationToken = idle.Token;
        using HttpResponseMessage response = await SendAsync(
            HttpMethod.Get,
            uri,
            request =>
            {
                foreach (string type in MediaTypes.ManifestAccept)
                {
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
                }
            },
            cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await CreateErrorAsync(response, name, cancellationToken).ConfigureAwait(false);
        }

        if (response.Content.Headers.ContentEncoding.Count > 0)
        {
            throw new InvalidManifestException(
                $"the manifest of {name} came with Content-Encoding {Digest.Printable(string.Join(",", response.Content.Headers.ContentEncoding))}, which regc does not accept (none was asked for)");
        }

        int max = Options.MaxManifestBytes;
        if (response.Content.Headers.ContentLength is long announced && announced > max)
        {
            throw new InvalidManifestException($"the manifest of {name} is {announced} bytes, more than the {max >> 20} MiB limit");
        }

        byte[] body = await ReadAtMostAsync(response, max, cancellationToken, idle).ConfigureAwait(false);
        if (body.Length > max)
        {
            throw new InvalidManifestException($"the manifest of {name} exceeds the {max >> 20} MiB limit");
        }

        if (response.Content.Headers.ContentLength is long length && length != body.Length)
        {
            throw new RegistryProtocolException($"the manifest of {name} announced {length} bytes but {body.Length} arrived", isTransient: true);
        }

        Digest actual = Digest.Compute(body);
        if (response.Headers.TryGetValues("Docker-Content-Digest", out IEnumerable<string>? values))
        {
            string header = values.First();
            if (!Digest.TryParse(header, out Digest announcedDigest))
            {
                throw new DigestMismatchException($"the registry sent an invalid Docker-Content-Digest \"{Digest.Printable(header)}\" for {name}");
            }

            if (announcedDigest != actual)
            {
                throw new DigestMismatchException($"the manifest of {name} hashes to {actual}, but the registry announced {announcedDigest}");
            }
        }

        if (pinned is { } expected && expected != actual)
        {
            throw new DigestMismatchException($"the manifest of {name} hashes to {actual}, not the {expected} asked for");
        }

        return new FetchedManifest(body, response.Content.Headers.ContentType?.MediaType, actual);
    }

    /// <summary>
    /// Lists the tags of <paramref name="repository"/>'s repository (<c>GET /v2/&lt;ns&gt;/&lt;model&gt;/tags/list</c>),
    /// following <c>Link: &lt;...&gt;; rel="next"</c> pagination on the same host, at most <see cref="MaxTagPages"/> pages of
    /// at most 1 MiB each. Tags that are not valid tag names are skipped. Sorted, distinct.
    /// </summary>
    /// <exception cref="ModelNotFoundException">The repository does not exist.</exception>
    /// <exception cref="RegistryProtocolException">A page is malformed or the pages do not end.</exception>
    public async Task<IReadOnlyList<string>> ListTagsAsync(ModelName repository, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var tags = new SortedSet<string>(StringComparer.Ordinal);
        Uri? next = new Uri(BaseUri(repository), $"v2/{repository.Repository}/tags/list?n=1000");
        for (int page = 0; next is not null; page++)
        {
            if (page >= MaxTagPages)
            {
                throw new RegistryProtocolException($"the tags of {repository.Repository} did not end after {MaxTagPages} pages", isTransient: false);
            }

            Uri uri = next;
            (string[] found, next) = await ExecuteWithTimeoutAsync(uri, idle => FetchTagsPageOnceAsync(repository, uri, idle), cancellationToken).ConfigureAwait(false);
            foreach (string tag in found)
            {
                if (ModelName.TryParse($"{repository.Host}/{repository.Repository}:{tag}", out _, out _))
                {
                    tags.Add(tag);
                }
            }
        }

        return tags.ToArray();
    }

    /// <summary>The most pages of tags <see cref="ListTagsAsync"/> follows.</summary>
    public const int MaxTagPages = 1000;

    private async Task<(string[] Tags, Uri? Next)> FetchTagsPageOnceAsync(ModelName repository, Uri uri, IdleTimeout idle)
    {
        CancellationToken cancellationToken = idle.Token;
        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, uri, null, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await CreateErrorAsync(response, repository, cancellationToken).ConfigureAwait(false);
        }

        byte[] body = await ReadAtMostAsync(response, 1 << 20, cancellationToken, idle).ConfigureAwait(false);
        string[] tags;
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(body);
            tags = document.RootElement.TryGetProperty("tags", out var list) && list.ValueKind == System.Text.Json.JsonValueKind.Array
                ? list.EnumerateArray().Where(t => t.ValueKind == System.Text.Json.JsonValueKind.String).Select(t => t.GetString()!).ToArray()
                : document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && document.RootElement.TryGetProperty("tags", out var none) && none.ValueKind == System.Text.Json.JsonValueKind.Null
                    ? []
                    : throw new RegistryProtocolException($"the tags of {repository.Repository} are not a JSON object with a tags array", isTransient: false);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new RegistryProtocolException($"the tags of {repository.Repository} are not valid JSON: {e.Message}", isTransient: false);
        }

        Uri? next = null;
        if (response.Headers.TryGetValues("Link", out IEnumerable<string>? links))
        {
            foreach (string link in links)
            {
                int open = link.IndexOf('<', StringComparison.Ordinal);
                int close = link.IndexOf('>', StringComparison.Ordinal);
                if (open >= 0 && close > open && link.Contains("rel=\"next\"", StringComparison.Ordinal))
                {
                    var candidate = new Uri(uri, link[(open + 1)..close]);
                    if (candidate.Host != uri.Host || candidate.Port != uri.Port || candidate.Scheme != uri.Scheme)
                    {
                        throw new RegistryProtocolException($"the tags of {repository.Repository} continue on another host ({Redact(candidate)}); not followed", isTransient: false);
                    }

                    next = candidate;
                }
            }
        }

        return (tags, next);
    }

    /// <summary>
    /// Asks the registry for a blob's chunksums (PROTOCOL §2) and validates the whole list before returning it.
    /// Returns null when the registry has none for the blob (404 or any other non-200 answer): the caller then
    /// falls back to its own ranges.
    /// </summary>
    /// <exception cref="RegistryProtocolException">The list or its <c>Content-Location</c> is invalid, after retries.</exception>
    public async Task<ChunkSums?> GetChunkSumsAsync(ModelName name, Descriptor blob, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var uri = new Uri(BaseUri(name), $"v2/{name.Repository}/chunksums/{blob.Digest}");
        return await ExecuteWithTimeoutAsync(uri, idle => FetchChunkSumsOnceAsync(name, blob, uri, idle), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks that the registry has <paramref name="blob"/> now (<c>HEAD</c> of the blob; a redirect to storage counts
    /// as yes, and is not followed). For <c>verify --repair</c>, which changes nothing on disk before the registry is
    /// known to have the replacement.
    /// </summary>
    /// <exception cref="RegistryResponseException">The registry does not have the blob with its size, or answered an error, after retries.</exception>
    /// <exception cref="RegistryUnreachableException">The registry could not be reached.</exception>
    public async Task ProbeBlobAsync(ModelName name, Descriptor blob, CancellationToken cancellationToken = default)
    {
        if (!await HasBlobAsync(name, blob, cancellationToken).ConfigureAwait(false))
        {
            throw new RegistryResponseException($"HEAD {Redact(GetBlobUri(name, blob.Digest))}: the registry does not have {blob.Digest.Short} with its {blob.Size} bytes");
        }
    }

    /// <summary>
    /// Runs a small request through the retry pipeline, each attempt bounded by <see cref="RegistryOptions.RequestTimeout"/>;
    /// after <see cref="MaxTimeouts"/> timeouts the request fails for good, so a registry that never answers ends in an error.
    /// </summary>
    private async Task<T> ExecuteWithTimeoutAsync<T>(Uri uri, Func<IdleTimeout, Task<T>> attempt, CancellationToken cancellationToken, string method = "GET")
    {
        int timeouts = 0;
        return await ExecuteAsync(
            async token =>
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(Options.RequestTimeout);
                try
                {
                    return await attempt(new IdleTimeout(timeout, Options.RequestTimeout)).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (timeout.IsCancellationRequested && !token.IsCancellationRequested)
                {
                    string seconds = Options.RequestTimeout.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
                    if (!HasAnswered(uri))
                    {
                        // First contact and not a word back: retrying a registry that never answered only makes the user wait.
                        throw new RegistryUnreachableException(
                            uri.Authority,
                            $"{uri.Authority} accepted the connection but did not answer {method} {Redact(uri)} within {seconds} s; check the host and port (or raise --request-timeout)",
                            e);
                    }

                    bool giveUp = ++timeouts >= MaxTimeouts;
                    throw new StallTimeoutException(
                        $"{method} {Redact(uri)} took longer than {seconds} s"
                            + (giveUp ? $", {timeouts} times; the registry is not answering (check the name and the network, or try again later)" : string.Empty),
                        isTransient: !giveUp)
                    { Reason = $"no answer in {seconds} s" };
                }
            },
            CreateBudget($"{method} {Redact(uri)}"),
            cancellationToken).ConfigureAwait(false);
    }

    private async Task<ChunkSums?> FetchChunkSumsOnceAsync(ModelName name, Descriptor blob, Uri uri, IdleTimeout idle)
    {
        CancellationToken cancellationToken = idle.Token;
        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, uri, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            LogNoChunkSums(_logger, blob.Digest.Short, (int)response.StatusCode);
            return null;
        }

        Uri requested = response.RequestMessage?.RequestUri ?? uri;
        Uri location = ResolveContentLocation(response.Content.Headers.ContentLocation, requested, blob.Digest) ?? GetBlobUri(name, blob.Digest);
        if (response.Content.Headers.ContentEncoding.Count > 0)
        {
            throw new RegistryProtocolException($"the chunksums of {blob.Digest.Short} came with Content-Encoding {string.Join(",", response.Content.Headers.ContentEncoding)}, which is not accepted", isTransient: false);
        }

        byte[] body = await ReadAtMostAsync(response, ChunkList.MaxBodyBytes, cancellationToken, idle).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength is long length && length != body.Length && body.Length <= ChunkList.MaxBodyBytes)
        {
            throw new RegistryProtocolException($"the chunksums of {blob.Digest.Short} announced {length} bytes but {body.Length} arrived", isTransient: true);
        }

        try
        {
            return new ChunkSums(location, ChunkList.Parse(body, blob.Size, blob.Digest));
        }
        catch (InvalidChunkListException e)
        {
            // The registry's error, and maybe a passing one (a list cut short): tried again, then reported.
            throw new RegistryProtocolException($"the registry's chunksums for {blob.Digest.Short} are invalid at line {e.Line}: {e.Problem}", isTransient: true);
        }
    }

    /// <summary>
    /// Resolves a chunksums <c>Content-Location</c> against the URL that answered: only http(s), never from https
    /// down to http. Null when the header is absent (the blob's own URL is used).
    /// </summary>
    internal static Uri? ResolveContentLocation(Uri? header, Uri requested, Digest blob)
    {
        if (header is null || header.OriginalString.Length == 0)
        {
            return null;
        }

        return ResolveFollowUp(header, requested, $"the chunksums of {blob.Short} point");
    }

    /// <summary>
    /// Resolves a URL a registry points to (a chunk list's location, an upload session's next one) against the URL
    /// that answered: only http(s), never from https down to http. <paramref name="what"/> starts the error message
    /// (<c>the chunksums of x point</c>).
    /// </summary>
    internal static Uri ResolveFollowUp(Uri header, Uri requested, string what)
    {
        Uri resolved = header.IsAbsoluteUri ? header : new Uri(requested, header);
        if (resolved.Scheme != Uri.UriSchemeHttp && resolved.Scheme != Uri.UriSchemeHttps)
        {
            throw new RegistryProtocolException($"{what} to a {Digest.Printable(resolved.Scheme)}: URL, which is not followed", isTransient: false);
        }

        if (requested.Scheme == Uri.UriSchemeHttps && resolved.Scheme == Uri.UriSchemeHttp)
        {
            throw new RegistryProtocolException($"{what} from https down to http ({Redact(resolved)}); refusing the downgrade", isTransient: false);
        }

        return resolved;
    }

    /// <summary>
    /// Sends a request, following up to <see cref="RegistryOptions.MaxRedirects"/> redirects itself: only to
    /// http(s), never from https to http (unless <paramref name="followRedirects"/> is false: a redirect is then the answer).
    /// Returns the final response, whatever its status; the caller disposes it.
    /// </summary>
    /// <remarks>
    /// Authorization goes only to the first URL's origin (scheme, host and port) and only while every hop so far has
    /// stayed there: once a redirect leaves it, no later hop carries credentials, even one that comes back. A 401 with
    /// a challenge from that origin is answered once (Basic or a token, see <see cref="RegistryAuthenticator"/>).
    /// </remarks>
    internal async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri uri, Action<HttpRequestMessage>? configure, CancellationToken cancellationToken, bool followRedirects = true)
    {
        Uri current = uri;
        bool onOrigin = true;
        bool challenged = false;
        AuthenticationHeaderValue? authorization = await _auth.GetAuthorizationAsync(uri, method, cancellationToken).ConfigureAwait(false);
        for (int hop = 0; ; hop++)
        {
            HttpResponseMessage response;
            using (var request = new HttpRequestMessage(method, current))
            {
                request.Headers.UserAgent.ParseAdd(Options.UserAgent);
                configure?.Invoke(request);
                request.Headers.Authorization = onOrigin ? authorization : null;
                LogRequest(_logger, method.Method, Redact(current), request.Headers.Range?.ToString());
                try
                {
                    response = await HttpSending.SendAsync(_http, request, cancellationToken).ConfigureAwait(false);
                }
                catch (HttpRequestException e) when (hop == 0 && !HasAnswered(current) && Unreachable(current, e) is { } unreachable)
                {
                    throw unreachable;
                }
            }

            NoteAnswer(current, response.StatusCode);
            LogResponse(_logger, (int)response.StatusCode, method.Method, Redact(current), response.Content.Headers.ContentRange?.ToString());

            if (response.StatusCode == HttpStatusCode.Unauthorized && onOrigin && !challenged)
            {
                challenged = true;
                AuthenticationHeaderValue? answer;
                try
                {
                    answer = await _auth.OnUnauthorizedAsync(current, response, authorization, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    response.Dispose();
                    throw;
                }

                if (answer is not null)
                {
                    response.Dispose();
                    authorization = answer;
                    hop--;
                    continue;
                }
            }

            if (!followRedirects || !IsRedirect(response.StatusCode))
            {
                return response;
            }

            Uri? location = response.Headers.Location;
            HttpStatusCode status = response.StatusCode;
            response.Dispose();
            if (location is null)
            {
                throw new RegistryProtocolException($"{method} {Redact(current)} answered {(int)status} without a Location header", isTransient: false);
            }

            if (hop >= Options.MaxRedirects)
            {
                throw new RegistryProtocolException($"{method} {Redact(uri)} was redirected more than {Options.MaxRedirects} times", isTransient: false);
            }

            Uri next = location.IsAbsoluteUri ? location : new Uri(current, location);
            if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
            {
                throw new RegistryProtocolException($"{method} {Redact(current)} redirected to a {next.Scheme}: URL, which is not followed", isTransient: false);
            }

            if (current.Scheme == Uri.UriSchemeHttps && next.Scheme == Uri.UriSchemeHttp)
            {
                throw new RegistryProtocolException($"{method} {Redact(current)} redirected from https to http ({Redact(next)}); refusing the downgrade", isTransient: false);
            }

            onOrigin = onOrigin && Uri.Compare(next, uri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;
            LogRedirect(_logger, (int)status, Redact(current), Redact(next), onOrigin);
            current = next;
        }
    }

    /// <summary>
    /// The one-line error for a first request to an origin that failed before any answer (a name that does not resolve,
    /// a refused or timed-out connection), which is not worth retrying; null for other failures.
    /// </summary>
    private static RegistryUnreachableException? Unreachable(Uri uri, HttpRequestException e)
    {
        if (e is RegistryUnreachableException)
        {
            return null;
        }

        string authority = uri.Authority;
        string? why = e.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError => $"cannot resolve the host name {uri.Host} ({TransientFaults.Describe(e)}); check the name",
            HttpRequestError.ConnectionError when e.InnerException is OperationCanceledException =>
                $"cannot connect to {authority}: no answer to the connection request ({e.Message}); check the host, port and firewall (or raise --connect-timeout)",
            HttpRequestError.ConnectionError => $"cannot connect to {authority}: {TransientFaults.Describe(e)}; check that the registry runs there and the port is right",
            _ => null,
        };
        return why is null ? null : new RegistryUnreachableException(authority, why, e);
    }

    /// <summary>Builds the exception for an error response, reading at most 64 KiB of its body.</summary>
    internal async Task<RegistryResponseException> CreateErrorAsync(HttpResponseMessage response, ModelName? name, CancellationToken cancellationToken)
    {
        string? code = null;
        string? message = null;
        try
        {
            byte[] body = await ReadAtMostAsync(response, MaxErrorBodyBytes, cancellationToken).ConfigureAwait(false);
            (code, message) = ParseErrorBody(body);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // The status says enough; a broken error body adds nothing.
        }

        string method = response.RequestMessage?.Method.Method ?? "GET";
        string uri = response.RequestMessage?.RequestUri is { } requestUri ? Redact(requestUri) : "?";
        if (response.StatusCode == HttpStatusCode.NotFound && name is not null
            && code is null or "MANIFEST_UNKNOWN" or "NAME_UNKNOWN" && uri.Contains("/manifests/", StringComparison.Ordinal))
        {
            return new ModelNotFoundException(name.DisplayName, code, message, method, uri);
        }

        if (response.StatusCode == HttpStatusCode.Unauthorized && response.RequestMessage?.RequestUri is { } refused)
        {
            string authority = RegistryAuthenticator.Authority(refused);
            string detail = code is null ? string.Empty : $": {code}" + (string.IsNullOrEmpty(message) ? string.Empty : $" ({message})");
            string hint = _auth.HasCredential(refused)
                ? $"the credentials for {authority} were refused; run regc login {authority} again"
                : $"{authority} needs credentials: run regc login {authority} (or add them to Docker's config.json)";
            return new RegistryResponseException($"{method} {uri} returned 401 Unauthorized{detail}; {hint}", HttpStatusCode.Unauthorized, code, message, method, uri);
        }

        TimeSpan? retryAfter = GetRetryAfter(response);
        var error = new RegistryResponseException(response.StatusCode, code, message, method, uri, retryAfter > Options.MaxRetryDelay ? Options.MaxRetryDelay : retryAfter);
        if (error.IsTransient && retryAfter > Options.MaxRetryDelay && response.RequestMessage?.RequestUri is { } asked && !HasSucceeded(asked))
        {
            // Nothing has worked yet and the registry asks for more patience than a retry gives: say when, and stop.
            DateTimeOffset at = _timeProvider.GetUtcNow() + retryAfter.Value;
            return new RegistryResponseException(
                $"{error.Message}; the registry asks to come back in {Wait(retryAfter.Value)} (Retry-After, at {at:yyyy-MM-dd HH:mm:ss} UTC): try again then",
                response.StatusCode,
                code,
                message,
                method,
                uri);
        }

        return error;
    }

    /// <summary>A wait for a message: "45 s", "12 min", "3 h 20 min".</summary>
    private static string Wait(TimeSpan wait) => wait.TotalMinutes < 2
        ? $"{Math.Ceiling(wait.TotalSeconds):0} s"
        : wait.TotalHours < 2 ? $"{Math.Ceiling(wait.TotalMinutes):0} min" : $"{Math.Floor(wait.TotalHours):0} h {wait.Minutes} min";

    /// <summary>The delay asked for by <c>Retry-After</c> (seconds or a date), uncapped; null when absent or in the past.</summary>
    private TimeSpan? GetRetryAfter(HttpResponseMessage response)
    {
        RetryConditionHeaderValue? retryAfter = response.Headers.RetryAfter;
        TimeSpan? delay = retryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - _timeProvider.GetUtcNow(),
            _ => null,
        };
        return delay is { } value && value >= TimeSpan.Zero ? value : null;
    }

    private static (string? Code, string? Message) ParseErrorBody(byte[] body)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("errors", out JsonElement errors)
                && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0
                && errors[0].ValueKind == JsonValueKind.Object)
            {
                JsonElement first = errors[0];
                string? code = first.TryGetProperty("code", out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                string? message = first.TryGetProperty("message", out JsonElement m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                return (code is null ? null : Digest.Printable(code), message is null ? null : Digest.Printable(message));
            }
        }
        catch (JsonException)
        {
            // Not the registry's JSON error format.
        }

        return (null, null);
    }

    /// <summary>
    /// Reads at most <paramref name="max"/> + 1 bytes of a body, so the caller can tell "over the limit"; each
    /// 64 KiB received gives <paramref name="idle"/> its time again (a long list arriving steadily is not a timeout).
    /// </summary>
    internal static async Task<byte[]> ReadAtMostAsync(HttpResponseMessage response, int max, CancellationToken cancellationToken, IdleTimeout? idle = null)
    {
        int armedAt = 0;
        Stream stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            int initial = (int)Math.Min(response.Content.Headers.ContentLength ?? 16 << 10, max) + 1;
            byte[] buffer = new byte[Math.Max(initial, 1)];
            int filled = 0;
            while (filled <= max)
            {
                if (filled == buffer.Length)
                {
                    Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, max + 1L));
                }

                int read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                filled += read;
                if (idle is not null && filled - armedAt >= 64 << 10)
                {
                    idle.Rearm();
                    armedAt = filled;
                }
            }

            return filled == buffer.Length ? buffer : buffer[..filled];
        }
    }

    /// <summary>The time limit of one small request: it runs out unless enough bytes keep arriving.</summary>
    internal sealed class IdleTimeout(CancellationTokenSource source, TimeSpan limit)
    {
        public CancellationToken Token => source.Token;

        public void Rearm() => source.CancelAfter(limit);
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>A URI for messages and logs: scheme, host and path, never the query (signed URLs keep secrets there).</summary>
    internal static string Redact(Uri uri) => uri.GetLeftPart(UriPartial.Path);

    [LoggerMessage(Level = LogLevel.Debug, Message = "no chunksums for {Blob} (status {Status}); using own ranges")]
    private static partial void LogNoChunkSums(ILogger logger, string blob, int status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Uri} range={Range}")]
    private static partial void LogRequest(ILogger logger, string method, string uri, string? range);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Status} for {Method} {Uri} content-range={ContentRange}")]
    private static partial void LogResponse(ILogger logger, int status, string method, string uri, string? contentRange);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Status} redirect from {From} to {To} (credentials sent there: {WithCredentials})")]
    private static partial void LogRedirect(ILogger logger, int status, string from, string to, bool withCredentials);
}
