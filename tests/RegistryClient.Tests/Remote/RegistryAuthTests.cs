using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Remote;

/// <summary>Pulls from Debian's docker-registry behind htpasswd Basic auth and behind token auth (a token server of the tests).</summary>
public sealed class RegistryAuthTests : IAsyncLifetime
{
    private const string User = "alice";
    private const string Password = "wonder:land"; // a colon in a password must survive user:password encoding

    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private byte[] _manifest = null!;

    public async ValueTask InitializeAsync()
    {
        (_source, _manifest) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/three:latest", [3L << 20, 1L << 20, 5], seed: 61);
    }

    public ValueTask DisposeAsync()
    {
        _temp.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Pull_FromHtpasswdRegistry_WithCredentials_AndClearErrorsWithoutOrWithWrongOnes()
    {
        await using DockerRegistry registry = await StartHtpasswdRegistryAsync();
        ModelName name = ModelName.Parse($"{registry.HostAndPort}/library/three:latest");

        ModelStore target = await PullAsync(name, TestCredentials.Write(_temp, (registry.HostAndPort, User, Password)));
        AssertSameModel(target, name);

        var anonymous = await Assert.ThrowsAsync<RegistryResponseException>(() => PullAsync(name, null));
        Assert.Contains($"{registry.HostAndPort} needs credentials: run regc login {registry.HostAndPort}", anonymous.Message, StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<RegistryResponseException>(() => PullAsync(name, TestCredentials.Write(_temp, (registry.HostAndPort, User, "wrong"))));
        Assert.Contains($"the credentials for {registry.HostAndPort} were refused", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong", refused.Message.Replace("were refused", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_FromTokenAuthRegistry_GetsOneTokenWithCredentials_AndAClearErrorAnonymously()
    {
        await using TokenServer tokens = await TokenServer.StartAsync(new() { [User] = Password });
        await using DockerRegistry registry = await DockerRegistry.StartAsync(tokens.RegistryConfig(tokens.WriteRootBundle(_temp.Combine("token-root.pem"))));
        using (var pusher = new RegistryPusher(registry.BaseAddress, new AuthenticationHeaderValue("Bearer", tokens.Mint(User, "repository:library/three:pull,push"))))
        {
            await pusher.PushModelAsync(_source, "library/three", "latest", _manifest);
        }

        ModelName name = ModelName.Parse($"{registry.HostAndPort}/library/three:latest");
        ModelStore target = await PullAsync(name, TestCredentials.Write(_temp, (registry.HostAndPort, User, Password)));

        AssertSameModel(target, name);
        RecordedRequest[] asked = [.. tokens.Server.Requests];
        // One token for the repository, cached for the manifest and all four blobs; the realm is on the registry's
        // host (127.0.0.1), so it got the registry's credentials.
        Assert.Single(asked);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}")), asked[0].Authorization);

        var anonymous = await Assert.ThrowsAsync<RegistryResponseException>(() => PullAsync(name, null));
        Assert.Contains($"needs credentials: run regc login {registry.HostAndPort}", anonymous.Message, StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<RegistryResponseException>(() => PullAsync(name, TestCredentials.Write(_temp, (registry.HostAndPort, User, "wrong"))));
        Assert.Contains($"refused the credentials of {User} for {registry.HostAndPort}", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"run regc login {registry.HostAndPort} again", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoginPullLogout_ThroughTheRealRegc_KeepSecretsOutOfEveryOutput()
    {
        await using DockerRegistry registry = await StartHtpasswdRegistryAsync();
        string dockerConfig = _temp.Combine("docker");
        var environment = new Dictionary<string, string> { ["DOCKER_CONFIG"] = dockerConfig };
        string configFile = Path.Combine(dockerConfig, "config.json");

        var wrong = await RegcProcess.RunWithAsync(environment, "not-it\n", "login", registry.HostAndPort, "--insecure", "-u", User, "--password-stdin");
        Assert.Equal(1, wrong.ExitCode);
        Assert.Single(wrong.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", wrong.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(configFile));

        var login = await RegcProcess.RunWithAsync(environment, Password + "\n", "login", registry.HostAndPort, "--insecure", "-u", User, "--password-stdin");
        Assert.True(login.ExitCode == 0, login.Stderr);
        Assert.Contains($"logged in to {registry.HostAndPort} as {User}", login.Stdout, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(configFile));
        Assert.Equal(Password, DockerConfig.Load(configFile).Find(registry.HostAndPort)!.Password);

        string store = _temp.Combine("cli-store");
        var pull = await RegcProcess.RunWithAsync(environment, null, "pull", "--insecure", "--models", store, "--json", $"{registry.HostAndPort}/library/three");
        Assert.True(pull.ExitCode == 0, pull.Stderr);
        AssertSameModel(new ModelStore(store), ModelName.Parse($"{registry.HostAndPort}/library/three"));

        var logout = await RegcProcess.RunWithAsync(environment, null, "logout", registry.HostAndPort);
        Assert.Equal(0, logout.ExitCode);
        Assert.Null(DockerConfig.Load(configFile).Find(registry.HostAndPort));
        var after = await RegcProcess.RunWithAsync(environment, null, "pull", "--insecure", "--models", _temp.Combine("cli-store-2"), $"{registry.HostAndPort}/library/three");
        Assert.Equal(1, after.ExitCode);
        Assert.Contains($"needs credentials: run regc login {registry.HostAndPort}", after.Stderr, StringComparison.Ordinal);

        foreach (string output in (string[])[wrong.Stdout, wrong.Stderr, login.Stdout, login.Stderr, pull.Stdout, pull.Stderr, logout.Stdout, after.Stderr])
        {
            Assert.DoesNotContain(Password, output, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}")), output, StringComparison.Ordinal);
        }
    }

    private async Task<DockerRegistry> StartHtpasswdRegistryAsync()
    {
        string htpasswd = _temp.Combine("htpasswd");
        await File.WriteAllTextAsync(htpasswd, await HtpasswdLineAsync(User, Password));
        DockerRegistry registry = await DockerRegistry.StartAsync($"""
            auth:
              htpasswd:
                realm: regc-tests
                path: {htpasswd}
            """);
        string basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
        using var pusher = new RegistryPusher(registry.BaseAddress, new AuthenticationHeaderValue("Basic", basic));
        await pusher.PushModelAsync(_source, "library/three", "latest", _manifest);
        return registry;
    }

    /// <summary>A bcrypt htpasswd line made by Apache's htpasswd (docker-registry accepts only bcrypt).</summary>
    internal static async Task<string> HtpasswdLineAsync(string user, string password)
    {
        const string Binary = "/usr/bin/htpasswd";
        if (!File.Exists(Binary))
        {
            Assert.Fail("htpasswd is needed for the Basic auth registry (apt-get install apache2-utils)");
        }

        using Process process = Process.Start(new ProcessStartInfo(Binary, ["-nbB", "-C", "4", user, password]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        string line = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        return line.Trim() + "\n";
    }

    /// <summary>
    /// A push under a second repository of a token-auth registry mounts every blob from the first: the token asked for
    /// covers both (<c>pull,push</c> on the target, <c>pull</c> on the source), so the registry lets the mount happen.
    /// </summary>
    [Fact]
    public async Task Push_ToTokenAuthRegistry_MountsAcrossRepositories_WithATokenForBoth()
    {
        await using TokenServer tokens = await TokenServer.StartAsync(new() { [User] = Password });
        await using DockerRegistry registry = await DockerRegistry.StartAsync(tokens.RegistryConfig(tokens.WriteRootBundle(_temp.Combine("token-root.pem"))));
        var first = ModelName.Parse($"{registry.HostAndPort}/library/pushed:latest");
        (ModelStore store, _) = await TestModels.CreateOciAsync(_temp.Combine("push-source"), first, [3L << 20, 5], 62);
        RegistryOptions options = Registries.FastRetries with
        {
            InsecureHosts = new HashSet<string> { registry.HostAndPort },
            Credentials = TestCredentials.Write(_temp, (registry.HostAndPort, User, Password)),
        };
        await new ModelPusher(Registries.Create(options), store).PushAsync(first, cancellationToken: TestContext.Current.CancellationToken);
        var second = ModelName.Parse($"{registry.HostAndPort}/team/copy:v1");

        PushResult result = await new ModelPusher(Registries.Create(options), store).PushAsync(first, second, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(3, result.BlobsMounted); // the config and both layers
        Assert.Equal(0, result.BlobsUploaded);
        Assert.Contains(tokens.Server.Requests, r => r.Scopes.Contains("repository:team/copy:pull,push") && r.Scopes.Contains("repository:library/pushed:pull"));

        // Without pull on the source the registry refuses the mount (401): the blobs are uploaded instead.
        tokens.Denied.Add("library/pushed");
        var third = ModelName.Parse($"{registry.HostAndPort}/team/other:v1");
        PushResult uploaded = await new ModelPusher(Registries.Create(options), store).PushAsync(first, third, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(0, uploaded.BlobsMounted);
        Assert.Equal(3, uploaded.BlobsUploaded);
    }

    private async Task<ModelStore> PullAsync(ModelName name, ICredentialSource? credentials)
    {
        var target = new ModelStore(_temp.Combine($"target-{Guid.NewGuid():N}"));
        RemoteRegistry client = Registries.Create(Registries.FastRetries with { InsecureHosts = new HashSet<string> { name.Host }, Credentials = credentials });
        try
        {
            await new ModelPuller(client, target).PullAsync([name], cancellationToken: TestContext.Current.CancellationToken);
        }
        catch
        {
            StoreAuditor.AssertNoManifests(target);
            StoreAuditor.AssertConsistent(target);
            throw;
        }

        return target;
    }

    private void AssertSameModel(ModelStore target, ModelName name)
    {
        foreach (Descriptor blob in Manifest.Parse(_manifest).Blobs)
        {
            Assert.Equal(File.ReadAllBytes(_source.GetBlobPath(blob.Digest)), File.ReadAllBytes(target.GetBlobPath(blob.Digest)));
        }

        Assert.Equal(_manifest, File.ReadAllBytes(target.GetManifestPath(name)));
        StoreAuditor.AssertConsistent(target);
    }
}
