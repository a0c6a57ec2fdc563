using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;

namespace RegistryClient.Remote;

/// <summary>
/// Answers registry challenges (<c>WWW-Authenticate</c>) for <see cref="RemoteRegistry"/>: Basic with the host's
/// credential, or a Bearer token from the challenge's realm (anonymous, with the host's credential, with an identity
/// token as an OAuth2 refresh token, or signed with an Ollama key). Tokens are kept in an <see cref="IMemoryCache"/>
/// keyed by realm, service, scope and who asked, until shortly before they expire.
/// </summary>
/// <remarks>
/// Who gets what: a credential configured for a host is sent only to that host (Basic) or to a token realm on that
/// same host (any port); a realm on another host gets only the credential configured for the realm's own host, else
/// none; an Ollama signature goes only to a realm on the registry's host and port (Ollama's rule). A token is sent only to the host it
/// was asked for. A realm over plain http is refused for an https registry. Safe to share between threads.
/// </remarks>
#pragma warning disable CA1001 // The semaphore lives as long as its client; it never allocates a wait handle (no AvailableWaitHandle use).
internal sealed partial class RegistryAuthenticator
#pragma warning restore CA1001
{
    private const int MaxTokenResponseBytes = 1 << 20;
    private static readonly TimeSpan MinimumTokenLifetime = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly RegistryOptions _options;
    private readonly IMemoryCache _tokens;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private readonly Lazy<OllamaKey?> _ollamaKey;

    public RegistryAuthenticator(HttpClient http, RegistryOptions options, IMemoryCache tokens, ILogger logger, TimeProvider time)
    {
        _http = http;
        _options = options;
        _tokens = tokens;
        _logger = logger;
        _time = time;
        _ollamaKey = new Lazy<OllamaKey?>(() => options.OllamaKeyPath is { } path && File.Exists(path) ? OllamaKey.Load(path) : null);
    }

    /// <summary>
    /// The <c>Authorization</c> to send to <paramref name="uri"/> before it asks: known only after its host has
    /// challenged once. May fetch a token when the cached one has expired.
    /// </summary>
    public async ValueTask<AuthenticationHeaderValue?> GetAuthorizationAsync(Uri uri, HttpMethod method, CancellationToken cancellationToken)
    {
        if (!_challenges.TryGetValue(Authority(uri), out AuthChallenge? challenge))
        {
            return null;
        }

        return challenge.IsBasic
            ? BasicFor(uri)
            : await GetTokenAsync(uri, challenge, ScopeFor(uri, Writes(method)) ?? challenge.Scope, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Handles a 401 from <paramref name="uri"/>: the <c>Authorization</c> to try once more with, or null when
    /// there is nothing better to send than <paramref name="sent"/> (the caller then reports the 401).
    /// </summary>
    /// <exception cref="RegistryResponseException">The token server refused or failed; the message names the host to log in to.</exception>
    /// <exception cref="RegistryProtocolException">The realm or the token answer is unusable.</exception>
    public async Task<AuthenticationHeaderValue?> OnUnauthorizedAsync(
        Uri uri, HttpResponseMessage response, AuthenticationHeaderValue? sent, CancellationToken cancellationToken)
    {
        IReadOnlyList<AuthChallenge> challenges = AuthChallenge.From(response.Headers.WwwAuthenticate);
        if (challenges.Count == 0)
        {
            return null;
        }

        AuthChallenge challenge = challenges[0];
        _challenges[Authority(uri)] = challenge;
        if (challenge.IsBasic)
        {
            AuthenticationHeaderValue? basic = BasicFor(uri);
            return basic is null || (sent is not null && sent.Scheme == basic.Scheme && sent.Parameter == basic.Parameter) ? null : basic;
        }

        AuthenticationHeaderValue token = await GetTokenAsync(uri, challenge, challenge.Scope ?? ScopeFor(uri, Writes(response.RequestMessage?.Method ?? HttpMethod.Get)), sent, cancellationToken).ConfigureAwait(false);
        return sent is not null && sent.Parameter == token.Parameter ? null : token;
    }

    /// <summary>Whether a credential is configured for the host of <paramref name="uri"/> (for error hints).</summary>
    public bool HasCredential(Uri uri) => _options.Credentials?.Find(Authority(uri)) is not null;

    private AuthenticationHeaderValue? BasicFor(Uri uri) =>
        _options.Credentials?.Find(Authority(uri)) is { HasPassword: true } credential
            ? new AuthenticationHeaderValue("Basic", credential.BasicParameter)
            : null;

    private async Task<AuthenticationHeaderValue> GetTokenAsync(
        Uri uri, AuthChallenge challenge, string? scope, AuthenticationHeaderValue? rejected, CancellationToken cancellationToken)
    {
        Uri realm = CheckRealm(uri, challenge);
        (RegistryCredential? credential, bool signed) = WhoAsks(uri, realm);
        string key = string.Join('\n', realm.AbsoluteUri, challenge.Service, scope, credential?.ToString() ?? (signed ? "<ollama key>" : "<anonymous>"));
        if (_tokens.TryGetValue(key, out string? cached) && cached != rejected?.Parameter)
        {
            return new AuthenticationHeaderValue("Bearer", cached);
        }

        await _fetching.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another request may have fetched it while this one waited.
            if (_tokens.TryGetValue(key, out cached) && cached != rejected?.Parameter)
            {
                return new AuthenticationHeaderValue("Bearer", cached!);
            }

            (string token, TimeSpan lifetime) = await FetchTokenAsync(uri, realm, challenge.Service, scope, credential, signed, cancellationToken).ConfigureAwait(false);
            // Refresh a little before the token runs out: a tenth of its life, at most 30 s.
            TimeSpan margin = TimeSpan.FromTicks(Math.Min(lifetime.Ticks / 10, TimeSpan.FromSeconds(30).Ticks));
            _tokens.Set(key, token, new MemoryCacheEntryOptions { AbsoluteExpiration = _time.GetUtcNow() + lifetime - margin, Size = 1 });
            LogToken(_logger, realm.Authority, scope ?? "(none)", (int)lifetime.TotalSeconds, credential?.ToString() ?? (signed ? "Ollama key" : "anonymous"));
            return new AuthenticationHeaderValue("Bearer", token);
        }
        finally
        {
            _fetching.Release();
        }
    }

    /// <summary>
    /// What the token request to <paramref name="realm"/> may carry for a request to <paramref name="uri"/>: the
    /// registry's credential when the realm is on the registry's host (any port: a token service beside the registry),
    /// else only the credential configured for the realm's own host; an Ollama signature only for a realm on the
    /// registry's very host and port, as Ollama's client checks.
    /// </summary>
    private (RegistryCredential? Credential, bool Signed) WhoAsks(Uri uri, Uri realm)
    {
        bool sameHost = string.Equals(realm.Host, uri.Host, StringComparison.OrdinalIgnoreCase);
        RegistryCredential? credential = _options.Credentials?.Find(Authority(sameHost ? uri : realm));
        return (credential, credential is null && Authority(realm) == Authority(uri) && _ollamaKey.Value is not null);
    }

    private Uri CheckRealm(Uri uri, AuthChallenge challenge)
    {
        if (string.IsNullOrEmpty(challenge.Realm) || !Uri.TryCreate(challenge.Realm, UriKind.Absolute, out Uri? realm)
            || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp))
        {
            throw new RegistryProtocolException(
                $"{uri.Authority} asked for a Bearer token without a usable http(s) realm (\"{Content.Digest.Printable(challenge.Realm ?? string.Empty)}\")", isTransient: false);
        }

        if (uri.Scheme == Uri.UriSchemeHttps && realm.Scheme == Uri.UriSchemeHttp)
        {
            throw new RegistryProtocolException(
                $"{uri.Authority} sends token requests to plain http ({RemoteRegistry.Redact(realm)}); refusing the downgrade", isTransient: false);
        }

        return realm;
    }

    private async Task<(string Token, TimeSpan Lifetime)> FetchTokenAsync(
        Uri uri, Uri realm, string? service, string? scope, RegistryCredential? credential, bool signed, CancellationToken cancellationToken)
    {
        var parameters = new List<KeyValuePair<string, string>>();
        if (!string.IsNullOrEmpty(service))
        {
            parameters.Add(new("service", service));
        }

        foreach (string part in (scope ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            parameters.Add(new("scope", part));
        }

        using var request = new HttpRequestMessage();
        request.Headers.UserAgent.ParseAdd(_options.UserAgent);
        if (credential?.IdentityToken is { } refreshToken)
        {
            // OAuth2 refresh-token grant, as Docker does with an identity token.
            parameters.AddRange([new("grant_type", "refresh_token"), new("refresh_token", refreshToken), new("client_id", "regc")]);
            request.Method = HttpMethod.Post;
            request.RequestUri = realm;
            request.Content = new FormUrlEncodedContent(parameters);
        }
        else
        {
            if (signed)
            {
                parameters.Add(new("ts", _time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
                parameters.Add(new("nonce", Base64Url(RandomNumberGenerator.GetBytes(16))));
            }

            request.Method = HttpMethod.Get;
            request.RequestUri = WithQuery(realm, signed ? [.. parameters.OrderBy(p => p.Key, StringComparer.Ordinal)] : parameters);
            if (credential is { HasPassword: true })
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", credential.BasicParameter);
            }
            else if (signed)
            {
                request.Headers.TryAddWithoutValidation("Authorization", _ollamaKey.Value!.SignRequest(request.RequestUri));
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        using HttpResponseMessage response = await HttpSending.SendAsync(_http, request, timeout.Token).ConfigureAwait(false);
        string who = credential is not null ? $"the credentials of {credential} for {Authority(uri)}" : signed ? "the Ollama key" : "an anonymous request";
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            string hint = credential is not null ? $"run regc login {Authority(uri)} again" : $"{Authority(uri)} needs credentials: run regc login {Authority(uri)}";
            throw new RegistryResponseException(
                $"the token server {RemoteRegistry.Redact(realm)} refused {who} ({(int)response.StatusCode} {response.StatusCode}); {hint}");
        }

        if (!response.IsSuccessStatusCode)
        {
            throw new RegistryResponseException(response.StatusCode, null, null, request.Method.Method, RemoteRegistry.Redact(realm), null);
        }

        byte[] body = await RemoteRegistry.ReadAtMostAsync(response, MaxTokenResponseBytes, timeout.Token).ConfigureAwait(false);
        return ParseToken(body, realm);
    }

    private (string Token, TimeSpan Lifetime) ParseToken(byte[] body, Uri realm)
    {
        if (body.Length > MaxTokenResponseBytes)
        {
            throw new RegistryProtocolException($"the token answer of {RemoteRegistry.Redact(realm)} is larger than 1 MiB", isTransient: false);
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            JsonElement root = document.RootElement;
            string? token = root.ValueKind != JsonValueKind.Object ? null
                : root.TryGetProperty("token", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.GetString() is { Length: > 0 } first ? first
                : root.TryGetProperty("access_token", out JsonElement a) && a.ValueKind == JsonValueKind.String ? a.GetString()
                : null;
            if (string.IsNullOrEmpty(token) || token.Any(c => c is < '!' or > '~'))
            {
                throw new RegistryProtocolException($"the token answer of {RemoteRegistry.Redact(realm)} has no usable token (\"token\" or \"access_token\", printable ASCII)", isTransient: false);
            }

            TimeSpan lifetime = MinimumTokenLifetime;
            if (root.TryGetProperty("expires_in", out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long seconds))
            {
                // At least 60 s, as the distribution token spec says; at most a day, whatever the server claims.
                lifetime = TimeSpan.FromSeconds(Math.Clamp(seconds, 60, 86_400));
            }

            return (token, lifetime);
        }
        catch (JsonException)
        {
            throw new RegistryProtocolException($"the token answer of {RemoteRegistry.Redact(realm)} is not JSON", isTransient: false);
        }
    }

    /// <summary>True for the methods that write to a registry (uploads, manifests): their token needs push scope.</summary>
    internal static bool Writes(HttpMethod method) => method == HttpMethod.Post || method == HttpMethod.Put || method == HttpMethod.Patch || method == HttpMethod.Delete;

    /// <summary>
    /// The repository scope of a registry API URL (<c>/v2/&lt;repo&gt;/manifests|blobs|tags|chunksums/...</c>), or null:
    /// <c>pull</c>, or <c>pull,push</c> for a request that <paramref name="write"/>s.
    /// </summary>
    internal static string? ScopeFor(Uri uri, bool write = false)
    {
        string path = uri.AbsolutePath;
        if (!path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            return null;
        }

        foreach (string marker in (string[])["/manifests/", "/blobs/", "/tags/", "/chunksums/"])
        {
            int at = path.LastIndexOf(marker, StringComparison.Ordinal);
            if (at > 4)
            {
                string scope = $"repository:{path[4..at]}:{(write ? "pull,push" : "pull")}";
                return write && MountSource(uri) is { } from && from != path[4..at] ? $"{scope} repository:{from}:pull" : scope;
            }
        }

        return null;
    }

    /// <summary>
    /// The repository a blob upload asks to mount from (<c>?mount=&lt;digest&gt;&amp;from=&lt;repository&gt;</c>), whose
    /// <c>pull</c> the token must also grant; null without one, or when it is not a plain repository path.
    /// </summary>
    private static string? MountSource(Uri uri)
    {
        string? mount = null, from = null;
        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? pair : pair[..equals];
            string value = equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..]);
            (mount, from) = key switch
            {
                "mount" => (value, from),
                "from" => (mount, value),
                _ => (mount, from),
            };
        }

        return mount is not null && from is { Length: > 0 and <= 255 }
            && from.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-' or '/')
            ? from
            : null;
    }

    /// <summary>Host and port as written in model names and config.json: the port only when it is not the scheme's default.</summary>
    internal static string Authority(Uri uri) => uri.IsDefaultPort ? uri.Host.ToLowerInvariant() : $"{uri.Host.ToLowerInvariant()}:{uri.Port}";

    private static Uri WithQuery(Uri realm, IEnumerable<KeyValuePair<string, string>> parameters)
    {
        string added = string.Join('&', parameters.Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value)));
        if (added.Length == 0)
        {
            return realm;
        }

        var builder = new UriBuilder(realm);
        builder.Query = builder.Query.Length > 1 ? builder.Query[1..] + "&" + added : added;
        return builder.Uri;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [LoggerMessage(Level = LogLevel.Debug, Message = "token from {Realm} for {Scope}, valid {Seconds} s, asked as {Who}")]
    private static partial void LogToken(ILogger logger, string realm, string scope, int seconds, string who);
}
