using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// A registry token server (distribution's token auth spec) on Kestrel: GET /token?service&amp;scope with optional
/// Basic credentials answers a JWT (ES256, the signing certificate in x5c) that docker-registry's token auth accepts.
/// Known users get the actions they ask for; anonymous and unknown users get none. It records every request.
/// </summary>
public sealed class TokenServer : IAsyncDisposable
{
    public const string Issuer = "regc-test-issuer";
    public const string Service = "regc-test";

    private readonly X509Certificate2 _signing;
    private readonly Dictionary<string, string> _users;
    private FaultServer _server = null!;

    private TokenServer(X509Certificate2 signing, Dictionary<string, string> users)
    {
        _signing = signing;
        _users = users;
    }

    public Uri Realm => new(_server.BaseAddress, "token");

    public FaultServer Server => _server;

    /// <summary>Tokens issued, anonymous or not.</summary>
    public int Issued { get; private set; }

    public static async Task<TokenServer> StartAsync(Dictionary<string, string> users, string address = "127.0.0.1")
    {
        var server = new TokenServer(TestCertificates.CreateSigning(), users);
        server._server = await FaultServer.StartAsync(server.HandleAsync, address);
        return server;
    }

    /// <summary>Writes the signing certificate as the registry's rootcertbundle.</summary>
    public string WriteRootBundle(string path) => TestCertificates.WritePem(_signing, path);

    /// <summary>The docker-registry configuration block for token auth against this server.</summary>
    public string RegistryConfig(string rootBundlePath) => $"""
        auth:
          token:
            realm: {Realm}
            service: {Service}
            issuer: {Issuer}
            rootcertbundle: {rootBundlePath}
        """;

    /// <summary>Repositories no token grants anything on from now on (their scopes are left out).</summary>
    public HashSet<string> Denied { get; } = [];

    /// <summary>A token for <paramref name="scope"/> as user <paramref name="user"/> (for pushing test data).</summary>
    public string Mint(string user, string scope) => CreateJwt(user, [scope]);

    private async Task HandleAsync(HttpContext context)
    {
        string? user = null;
        string authorization = context.Request.Headers.Authorization.ToString();
        if (authorization.Length > 0)
        {
            var header = AuthenticationHeaderValue.Parse(authorization);
            string[] parts = header.Scheme == "Basic"
                ? Encoding.UTF8.GetString(Convert.FromBase64String(header.Parameter ?? string.Empty)).Split(':', 2)
                : [];
            if (parts.Length != 2 || !_users.TryGetValue(parts[0], out string? password) || password != parts[1])
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsync("""{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}""");
                return;
            }

            user = parts[0];
        }

        string[] scopes = user is null
            ? []
            : context.Request.Query["scope"].OfType<string>().Where(s => !Denied.Any(d => s.StartsWith($"repository:{d}:", StringComparison.Ordinal))).ToArray();
        string token = CreateJwt(user ?? string.Empty, scopes);
        Issued++;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { token, access_token = token, expires_in = 300, issued_at = DateTimeOffset.UtcNow.ToString("O") }));
    }

    private string CreateJwt(string subject, IEnumerable<string> scopes)
    {
        var access = scopes.Select(scope =>
        {
            int first = scope.IndexOf(':', StringComparison.Ordinal), last = scope.LastIndexOf(':');
            return new { type = scope[..first], name = scope[(first + 1)..last], actions = scope[(last + 1)..].Split(',') };
        }).ToArray();
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new { typ = "JWT", alg = "ES256", x5c = new[] { Convert.ToBase64String(_signing.RawData) } }));
        string claims = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new
        {
            iss = Issuer, sub = subject, aud = Service, exp = now + 300, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access,
        }));
        using ECDsa key = _signing.GetECDsaPrivateKey()!;
        byte[] signature = key.SignData(Encoding.ASCII.GetBytes(header + "." + claims), HashAlgorithmName.SHA256);
        return header + "." + claims + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _signing.Dispose();
    }
}
