using System.Security.Cryptography.X509Certificates;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Remote;

/// <summary>
/// The real regc against the project's server over https with a self-signed certificate: trusted only through
/// SSL_CERT_FILE or --insecure for that host, and reachable through an HTTP CONNECT proxy (HTTPS_PROXY).
/// </summary>
public sealed class TlsAndProxyTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private X509Certificate2 _certificate = null!;
    private OwnRegistry _registry = null!;
    private ModelStore _source = null!;
    private byte[] _manifest = null!;
    private string _bundle = null!;

    public async ValueTask InitializeAsync()
    {
        (_source, _manifest) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/tls:latest", [3L << 20, 100], seed: 71);
        _certificate = TestCertificates.CreateServer();
        _bundle = TestCertificates.WritePem(_certificate, _temp.Combine("ca.pem"));
        _registry = await OwnRegistry.StartAsync(_source, certificate: _certificate);
        Assert.Equal("https", _registry.BaseAddress.Scheme);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _certificate.Dispose();
        _temp.Dispose();
    }

    private string Name => $"{_registry.HostAndPort}/library/tls";

    [Fact]
    public async Task Pull_OverTls_UntrustedCertificate_FailsAtOnceNamingTheFix_WithoutAnyRequest()
    {
        string store = _temp.Combine("untrusted");

        var result = await RegcProcess.RunWithAsync(null, null, "pull", "--models", store, Name);

        Assert.Equal(1, result.ExitCode);
        string error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: TLS with {_registry.HostAndPort} failed", error, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", error, StringComparison.Ordinal);
        Assert.Contains("--insecure", error, StringComparison.Ordinal);
        Assert.Empty(await _registry.SettledLogLinesAsync()); // no HTTP request got through, and no retry storm of them
        StoreAuditor.AssertNoManifests(new ModelStore(store));
    }

    [Fact]
    public async Task Pull_OverTls_TrustedThroughSslCertFile_IsByteIdentical()
    {
        string store = _temp.Combine("trusted");

        var result = await RegcProcess.RunWithAsync(new Dictionary<string, string> { ["SSL_CERT_FILE"] = _bundle }, null, "pull", "--models", store, Name);

        Assert.True(result.ExitCode == 0, result.Stderr);
        AssertPulled(store);
    }

    [Fact]
    public async Task Pull_OverTls_InsecureSkipsVerificationForTheNamedHostOnly()
    {
        string store = _temp.Combine("insecure");

        var result = await RegcProcess.RunWithAsync(null, null, "pull", "--insecure", "--models", store, $"https://{Name}");

        Assert.True(result.ExitCode == 0, result.Stderr);
        AssertPulled(store);

    }

    [Fact]
    public async Task InsecureHosts_SkipVerificationForTheirHostOnly_NotForAnotherHostWithTheSameCertificate()
    {
        await using OwnRegistry other = await OwnRegistry.StartAsync(_source, certificate: _certificate, listen: "127.0.0.2:0");
        var options = Registries.FastRetries with { InsecureHosts = new HashSet<string> { _registry.HostAndPort } };

        await new RegistryClient.Transfer.ModelPuller(Registries.Create(options), new ModelStore(_temp.Combine("named")))
            .PullAsync([ModelName.Parse($"https://{Name}")], cancellationToken: TestContext.Current.CancellationToken);
        AssertPulled(_temp.Combine("named"));

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => new RegistryClient.Transfer.ModelPuller(Registries.Create(options), new ModelStore(_temp.Combine("unnamed")))
            .PullAsync([ModelName.Parse($"https://{other.HostAndPort}/library/tls")], cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains($"TLS with {other.HostAndPort} failed", refused.Message, StringComparison.Ordinal);
        Assert.Equal(HttpRequestError.SecureConnectionError, refused.HttpRequestError);
        Assert.Empty(await other.SettledLogLinesAsync());
    }

    [Fact]
    public async Task Pull_ThroughConnectProxy_TunnelsTls_AndTheProxySeesNoRequestOrCredential()
    {
        await using var proxy = new ConnectProxy();
        string store = _temp.Combine("proxied");
        var environment = new Dictionary<string, string>
        {
            ["SSL_CERT_FILE"] = _bundle,
            ["HTTPS_PROXY"] = proxy.Address.ToString(),
            ["NO_PROXY"] = string.Empty,
            ["no_proxy"] = string.Empty,
        };

        var result = await RegcProcess.RunWithAsync(environment, null, "pull", "--models", store, Name);

        Assert.True(result.ExitCode == 0, result.Stderr);
        AssertPulled(store);
        string[] seen = [.. proxy.Requests];
        Assert.NotEmpty(seen);
        Assert.All(seen, head => Assert.StartsWith($"CONNECT {_registry.HostAndPort} HTTP/1.1", head, StringComparison.Ordinal));
        Assert.All(seen, head => Assert.DoesNotContain("/v2/", head, StringComparison.Ordinal));
        Assert.All(seen, head => Assert.DoesNotContain("Authorization", head, StringComparison.OrdinalIgnoreCase));

        // NO_PROXY names the registry: the proxy is bypassed.
        int before = proxy.Requests.Count;
        environment["NO_PROXY"] = environment["no_proxy"] = "127.0.0.1"; // .NET reads the lower-case one first
        var bypassed = await RegcProcess.RunWithAsync(environment, null, "pull", "--models", _temp.Combine("bypassed"), Name);
        Assert.True(bypassed.ExitCode == 0, bypassed.Stderr);
        Assert.Equal(before, proxy.Requests.Count);
    }

    private void AssertPulled(string root)
    {
        var store = new ModelStore(root);
        foreach (Descriptor blob in Manifest.Parse(_manifest).Blobs)
        {
            Assert.Equal(File.ReadAllBytes(_source.GetBlobPath(blob.Digest)), File.ReadAllBytes(store.GetBlobPath(blob.Digest)));
        }

        Assert.Equal(_manifest, File.ReadAllBytes(store.GetManifestPath(ModelName.Parse(Name))));
        StoreAuditor.AssertConsistent(store);
    }
}
