using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Remote;

/// <summary>
/// Servers that record every header prove where credentials go: never to a storage host a blob is redirected to
/// (nor on a second hop there), never to a token realm on another host unless that host is configured, and Ollama's
/// signature only to a realm on the registry's own host.
/// </summary>
public sealed class CredentialLeakTests : IAsyncLifetime
{
    private const string Repository = "library/leak";
    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private byte[] _manifest = null!;

    public async ValueTask InitializeAsync() =>
        (_source, _manifest) = await TestModels.CreateAsync(_temp.Combine("source"), $"registry.ollama.ai/{Repository}:latest", [3L << 20, 100], seed: 81);

    public ValueTask DisposeAsync()
    {
        _temp.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task BasicCredentials_NeverFollowARedirectToAStorageHost_NorItsSecondHop()
    {
        string basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:secret"));
        await using FaultServer storage = await FaultServer.StartAsync(
            async context =>
            {
                string path = context.Request.Path.Value!;
                if (path.StartsWith("/1/", StringComparison.Ordinal))
                {
                    context.Response.Redirect("/2/" + path[3..]); // a second hop on the same foreign host
                    return;
                }

                await FaultServer.ServeRangeAsync(context, File.ReadAllBytes(_source.GetBlobPath(Digest.Parse(path[3..]))));
            },
            "127.0.0.2");
        await using FaultServer registry = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Headers.Authorization != basic)
            {
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"regc\"";
                return;
            }

            await ServeManifestOrAsync(context, blob => context.Response.Redirect(new Uri(storage.BaseAddress, "1/" + blob).ToString()));
        });

        ModelStore target = await PullAsync(registry, TestCredentials.Write(_temp, (registry.HostAndPort, "alice", "secret")));

        AssertPulled(target, registry);
        Assert.Equal(2 * Manifest.Parse(_manifest).Blobs.Count(), storage.Requests.Count); // every blob (config and layers), two hops each
        Assert.All(storage.Requests, r => Assert.Equal(string.Empty, r.Authorization));
        Assert.Contains(registry.Requests, r => r.Authorization == basic);
    }

    [Fact]
    public async Task TokenRealmOnAnotherHost_GetsNoCredentialOrSignature_UnlessThatHostIsConfigured()
    {
        await using FaultServer realm = await FaultServer.StartAsync(
            context => context.Response.WriteAsJsonAsync(new { token = "realm-token", expires_in = 300 }), "127.0.0.2");
        await using FaultServer registry = await StartBearerRegistryAsync(new Uri(realm.BaseAddress, "token"), "realm-token");
        string key = await CreateOllamaKeyAsync();

        // Credentials for the registry only, and an Ollama key: the foreign realm sees neither.
        AssertPulled(await PullAsync(registry, TestCredentials.Write(_temp, (registry.HostAndPort, "alice", "secret")), key), registry);
        RecordedRequest anonymous = Assert.Single(realm.Requests);
        Assert.Equal(string.Empty, anonymous.Authorization);

        // Credentials configured for the realm's host too: it gets those, never the registry's.
        realm.Requests.Clear();
        AssertPulled(await PullAsync(registry, TestCredentials.Write(_temp, (registry.HostAndPort, "alice", "secret"), (realm.HostAndPort, "bob", "realm-pass")), key), registry);
        RecordedRequest configured = Assert.Single(realm.Requests);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:realm-pass")), configured.Authorization);

        // The token itself goes only to the registry.
        Assert.All(registry.Requests.Where(r => r.Authorization.Length > 0), r => Assert.Equal("Bearer realm-token", r.Authorization));
    }

    [Fact]
    public async Task OllamaKey_SignsTheTokenRequestToARealmOnTheRegistrysHost_AsOllamaDoes()
    {
        string key = await CreateOllamaKeyAsync();
        string expectedKey = OllamaKey.Load(key).PublicKeyText;
        var verified = new List<string?>();
        FaultServer registry = null!;
        registry = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/token")
            {
                var url = new Uri($"{registry.BaseAddress.GetLeftPart(UriPartial.Authority)}{context.Request.Path}{context.Request.QueryString}");
                string? signer = OllamaKey.VerifyRequest(url, context.Request.Headers.Authorization.ToString());
                lock (verified)
                {
                    verified.Add(signer);
                }

                bool fresh = long.TryParse(context.Request.Query["ts"], out long ts) && Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - ts) < 60;
                if (signer != expectedKey || !fresh || context.Request.Query["nonce"].ToString().Length < 16)
                {
                    context.Response.StatusCode = 401;
                    return;
                }

                await context.Response.WriteAsJsonAsync(new { token = "signed-token" });
                return;
            }

            await HandleBearerAsync(context, new Uri(registry.BaseAddress, "token"), "signed-token");
        });
        await using (registry)
        {
            AssertPulled(await PullAsync(registry, credentials: null, key), registry);
        }

        Assert.Equal([expectedKey], verified);
    }

    private async Task<FaultServer> StartBearerRegistryAsync(Uri realm, string token) =>
        await FaultServer.StartAsync(context => HandleBearerAsync(context, realm, token));

    private async Task HandleBearerAsync(HttpContext context, Uri realm, string token)
    {
        if (context.Request.Headers.Authorization != "Bearer " + token)
        {
            context.Response.StatusCode = 401;
            context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{realm}\",service=\"leak-test\",scope=\"repository:{Repository}:pull\"";
            return;
        }

        await ServeManifestOrAsync(context, blob => FaultServer.ServeRangeAsync(context, File.ReadAllBytes(_source.GetBlobPath(Digest.Parse(blob)))));
    }

    private async Task ServeManifestOrAsync(HttpContext context, Func<string, Task> blob)
    {
        string path = context.Request.Path.Value!;
        if (path == $"/v2/{Repository}/manifests/latest")
        {
            context.Response.ContentType = MediaTypes.DockerManifest;
            await context.Response.Body.WriteAsync(_manifest);
        }
        else if (path.StartsWith($"/v2/{Repository}/blobs/", StringComparison.Ordinal))
        {
            await blob(path[$"/v2/{Repository}/blobs/".Length..]);
        }
        else
        {
            context.Response.StatusCode = 404;
        }
    }

    private Task ServeManifestOrAsync(HttpContext context, Action<string> blob) =>
        ServeManifestOrAsync(context, digest =>
        {
            blob(digest);
            return Task.CompletedTask;
        });

    private async Task<ModelStore> PullAsync(FaultServer registry, ICredentialSource? credentials, string? ollamaKey = null)
    {
        var target = new ModelStore(_temp.Combine($"target-{Guid.NewGuid():N}"));
        RemoteRegistry client = Registries.Create(Registries.FastRetries with { Insecure = true, Credentials = credentials, OllamaKeyPath = ollamaKey });
        await new ModelPuller(client, target).PullAsync([ModelName.Parse($"{registry.HostAndPort}/{Repository}")], cancellationToken: TestContext.Current.CancellationToken);
        return target;
    }

    private async Task<string> CreateOllamaKeyAsync()
    {
        string path = _temp.Combine($"id_ed25519-{Guid.NewGuid():N}");
        using Process process = Process.Start(new ProcessStartInfo("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-f", path]) { UseShellExecute = false })!;
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        return path;
    }

    private void AssertPulled(ModelStore target, FaultServer registry)
    {
        foreach (Descriptor blob in Manifest.Parse(_manifest).Blobs)
        {
            Assert.Equal(File.ReadAllBytes(_source.GetBlobPath(blob.Digest)), File.ReadAllBytes(target.GetBlobPath(blob.Digest)));
        }

        Assert.Equal(_manifest, File.ReadAllBytes(target.GetManifestPath(ModelName.Parse($"{registry.HostAndPort}/{Repository}"))));
        StoreAuditor.AssertConsistent(target);
    }
}
