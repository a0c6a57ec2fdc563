using System.Text;
using RegistryClient.Content;
using RegistryClient.Maintenance;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// Pushes to Debian's docker-registry (2.8, which appends a chunk sent twice instead of checking its Content-Range):
/// what skopeo reads back, what a second push sends, where an interrupted push continues, a cut in the middle of a
/// chunk, a mount between repositories, and a read-only registry's refusal. Bytes are counted on the wire, between
/// regc and the registry.
/// </summary>
public sealed class PushTests : IAsyncLifetime
{
    private const long Chunk = 1 << 20;
    private static readonly long[] s_layers = [6L << 20, (1L << 20) + 17, 5];

    private readonly TempDirectory _temp = new();
    private DockerRegistry _registry = null!;

    public async ValueTask InitializeAsync() => _registry = await DockerRegistry.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        _temp.Dispose();
    }

    /// <summary>The registries of these tests speak plain HTTP on loopback.</summary>
    private static readonly RegistryOptions Plain = Registries.FastRetries with { Insecure = true };

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>A store holding an OCI image with standard layer types (which skopeo copies), named for <paramref name="host"/>.</summary>
    private async Task<(ModelStore Store, ModelName Name, byte[] Manifest)> ModelAsync(string host, string repository = "library/pushed", ulong seed = 7)
    {
        var name = ModelName.Parse($"{host}/{repository}:latest");
        (ModelStore store, byte[] oci) = await TestModels.CreateOciAsync(_temp.Combine($"store-{seed}-{Guid.NewGuid():N}"), name, s_layers, seed);
        return (store, name, oci);
    }

    private static ModelPusher Pusher(ModelStore store, Action<Digest, long>? chunkSent = null, RegistryOptions? options = null) =>
        new(Registries.Create(options ?? Plain), store, new PushOptions { ChunkSize = Chunk, MaxChunkSize = Chunk, ChunkSent = chunkSent });

    private static long BlobBytes => s_layers.Sum() + 1024; // the layers and a config of a few hundred bytes, at most

    [Fact]
    public async Task Push_PutsTheSameManifestBytes_AndSkopeoCopiesEveryBlob()
    {
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(_registry.HostAndPort);

        PushResult result = await Pusher(store).PushAsync(name, cancellationToken: Token);

        Assert.Equal(4, result.BlobsUploaded); // the config and three layers
        Assert.Equal(Digest.Compute(manifest), result.ManifestDigest);
        await SkopeoReads.AssertModelAsync(name, manifest, store, _temp.Combine("skopeo-copy"));
        Assert.DoesNotContain(TestModels.Files(store.UploadsDirectory), f => !f.EndsWith(".lock", StringComparison.Ordinal)); // no upload records left behind (the empty lock files stay)
    }

    [Fact]
    public async Task SecondPush_UploadsNoBlobBytes()
    {
        await using var link = new CountingLink(_registry.HostAndPort);
        (ModelStore store, ModelName name, _) = await ModelAsync(link.HostAndPort);
        await Pusher(store).PushAsync(name, cancellationToken: Token);
        long first = link.BytesToServer;
        Assert.True(first >= s_layers.Sum(), $"the first push sent {first} bytes");

        PushResult again = await Pusher(store).PushAsync(name, cancellationToken: Token);

        long second = link.BytesToServer - first;
        Assert.Equal(0, again.BlobsUploaded);
        Assert.Equal(4, again.BlobsPresent);
        Assert.True(second < 16 << 10, $"the second push sent {second} bytes: HEADs and the manifest only");
    }

    /// <summary>Seeds pick the chunk after which the first push is stopped; the second sends at most the rest plus one chunk.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task InterruptedPush_ContinuesWhereTheRegistryStands(int seed)
    {
        await using var link = new CountingLink(_registry.HostAndPort);
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(link.HostAndPort, seed: (ulong)seed);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];
        int stopAfter = new Random(seed).Next(1, (int)(weights.Size / Chunk)); // chunks acknowledged before the stop
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
        long acknowledged = 0;
        int seen = 0;
        ModelPusher interrupted = Pusher(store, (digest, offset) =>
        {
            if (digest == weights.Digest && ++seen == stopAfter)
            {
                acknowledged = offset;
                stop.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => interrupted.PushAsync(name, cancellationToken: stop.Token));
        Assert.NotNull(store.TryReadUploadRecord(name, weights.Digest));
        Assert.Equal(stopAfter * Chunk, acknowledged);

        long before = link.BytesToServer;
        PushResult result = await Pusher(store).PushAsync(name, cancellationToken: Token);

        long sent = link.BytesToServer - before;
        long rest = BlobBytes - acknowledged;
        Assert.InRange(result.BlobsResumed, 1, 2); // the weights, and the 1 MiB layer when it was mid-way too
        Assert.True(sent <= rest + Chunk, $"stopped after {acknowledged} bytes of {weights.Size}; the second push sent {sent} bytes, more than the rest ({rest}) and one chunk");
        Assert.Null(store.TryReadUploadRecord(name, weights.Digest));
        await AssertRegistryServesAsync(name, store, manifest);
    }

    /// <summary>
    /// A link reset in the middle of a chunk's body: distribution keeps the part that arrived and then refuses the
    /// session (its size is not the offset it signed), so the blob goes again in a new session, once.
    /// </summary>
    [Fact]
    public async Task LinkCutInTheMiddleOfAChunk_StartsTheBlobInANewSession_NeverAppendsTwice()
    {
        // The first connection that carried 3.5 MiB towards the registry is reset: in the middle of a chunk's body (the
        // client may have used more than one connection, so the cut can come later in the weights, never after them).
        const long CutAfter = (7L << 20) / 2;
        await using var link = new CountingLink(_registry.HostAndPort, cutAfter: CutAfter);
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(link.HostAndPort);

        PushResult result = await new ModelPusher(Registries.Create(Plain), store, new PushOptions { ChunkSize = Chunk, MaxChunkSize = Chunk, Concurrency = 1 }).PushAsync(name, cancellationToken: Token);

        Assert.True(link.Cut);
        Assert.Equal(4, result.BlobsUploaded); // the config and three layers
        long weights = s_layers[0];
        Assert.True(link.BytesToServer < BlobBytes + weights + (64 << 10), $"sent {link.BytesToServer} bytes for {BlobBytes}: the cut blob went more than twice, or another blob went again");
        await AssertRegistryServesAsync(name, store, manifest);
    }

    /// <summary>
    /// Two pushes of one model from one store at once (two processes, or two calls): each blob is uploaded once, the
    /// second push waits for the first's upload of a blob and then finds it there; both succeed.
    /// </summary>
    [Fact]
    public async Task TwoPushesAtOnce_UploadEachBlobOnce()
    {
        await using var link = new CountingLink(_registry.HostAndPort);
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(link.HostAndPort);
        var other = new ModelStore(store.Root); // as another process would open it

        PushResult[] results = await Task.WhenAll(Pusher(store).PushAsync(name, cancellationToken: Token), Pusher(other).PushAsync(name, cancellationToken: Token));

        Assert.Equal(4, results.Sum(r => r.BlobsUploaded));
        Assert.Equal(4, results.Sum(r => r.BlobsPresent));
        Assert.True(link.BytesToServer < BlobBytes + (64 << 10), $"{link.BytesToServer} bytes sent for {BlobBytes}: a blob went twice");
        await AssertRegistryServesAsync(name, store, manifest);
    }

    [Fact]
    public async Task PushToAnotherRepositoryOfTheSameRegistry_MountsTheBlobs()
    {
        await using var link = new CountingLink(_registry.HostAndPort);
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(link.HostAndPort);
        await Pusher(store).PushAsync(name, cancellationToken: Token);
        var other = ModelName.Parse($"{link.HostAndPort}/team/copy:v1");
        long before = link.BytesToServer;

        PushResult result = await new ModelPusher(Registries.Create(Plain), store).PushAsync(name, other, cancellationToken: Token);

        Assert.Equal(4, result.BlobsMounted);
        Assert.Equal(0, result.BlobsUploaded);
        Assert.True(link.BytesToServer - before < 16 << 10, $"the mount sent {link.BytesToServer - before} bytes");
        await AssertRegistryServesAsync(other, store, manifest);
    }

    [Fact]
    public async Task ReadOnlyRegistry_RefusesWithOneLineSayingSo()
    {
        await using DockerRegistry readOnly = await DockerRegistry.StartAsync(readOnly: true);
        (ModelStore store, ModelName name, _) = await ModelAsync(readOnly.HostAndPort);

        RegistryResponseException refused = await Assert.ThrowsAsync<RegistryResponseException>(() => Pusher(store).PushAsync(name, cancellationToken: Token));

        Assert.Contains("read-only", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', refused.Message);
    }

    /// <summary>
    /// <c>regc push</c> interrupted by a signal when a seeded share of the model has crossed the wire, then run again.
    /// After SIGINT (Ctrl-C) the chunk in flight finishes and the push stops between chunks: the second run sends only
    /// what the registry had not acknowledged, and no byte goes twice. After SIGKILL the registry holds part of a chunk;
    /// distribution then drops the session (its size no longer matches the offset it signed), so the blob starts again
    /// in a new session: never more than the model again, and never a chunk appended twice.
    /// </summary>
    [Theory]
    [InlineData(Sigint, 11)]
    [InlineData(Sigint, 12)]
    [InlineData(Sigint, 13)]
    [InlineData(Sigint, 14)]
    [InlineData(Sigint, 15)]
    [InlineData(Sigkill, 16)]
    [InlineData(Sigkill, 17)]
    public async Task InterruptedCliPush_RunAgain_SendsOnlyWhatTheRegistryLacks(int signal, int seed)
    {
        const long Size = 48L << 20;
        const long Slack = 64 << 10; // headers, the small blobs, the manifest
        await using var link = new CountingLink(_registry.HostAndPort);
        var name = ModelName.Parse($"{link.HostAndPort}/library/killed:latest");
        (ModelStore store, byte[] manifest) = await TestModels.CreateAsync(_temp.Combine($"killed-{seed}"), name.DisplayName, [Size, 5], (ulong)seed);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];
        long killAt = (long)(Size * (0.1 + (0.8 * new Random(seed).NextDouble())));

        using (RegcRun run = RegcProcess.Start(null, "push", name.DisplayName, "--models", store.Root, "--chunk-size", "4M", "--insecure"))
        {
            while (link.BytesToServer < killAt && !run.Process.HasExited)
            {
                await Task.Delay(2, Token);
            }

            if (run.Process.HasExited)
            {
                (int code, string output, string error) = await run.WaitAsync();
                Assert.Fail($"the push ended (exit {code}) before {killAt} bytes were sent: {output} {error}");
            }

            Assert.Equal(0, Signals.Send(run.Process.Id, signal));
            (int exit, _, string stderr) = await run.WaitAsync();
            Assert.True(exit == 128 + signal, $"exit {exit}: {stderr}");
        }

        long first = link.BytesToServer;
        long recorded = store.TryReadUploadRecord(name, weights.Digest)?.Offset ?? 0;
        (int again, string stdout, string errors) = await RegcProcess.RunAsync("push", name.DisplayName, "--models", store.Root, "--chunk-size", "4M", "--insecure");
        Assert.True(again == 0, errors);
        Assert.Contains("pushed", stdout, StringComparison.Ordinal);

        long second = link.BytesToServer - first;
        string what = $"interrupted at {first} bytes sent with {recorded} recorded; the second run sent {second}";
        if (signal == Sigint)
        {
            Assert.True(recorded > 0, what);
            Assert.True(second <= Size - recorded + Slack, what);
            Assert.True(first + second <= Size + Slack, $"{what}: a chunk went twice");
        }
        else
        {
            Assert.True(second <= Size + Slack, what);
        }

        Assert.Null(store.TryReadUploadRecord(name, weights.Digest));
        await AssertRegistryServesAsync(name, store, manifest);
    }

    private const int Sigint = Signals.Sigint;
    private const int Sigkill = Signals.Sigkill;


    [Fact]
    public async Task Cli_ReadOnlyRegistry_ExitsNonZeroWithOneLine()
    {
        await using DockerRegistry readOnly = await DockerRegistry.StartAsync(readOnly: true);
        (ModelStore store, ModelName name, _) = await ModelAsync(readOnly.HostAndPort);

        (int exit, _, string stderr) = await RegcProcess.RunAsync("push", name.DisplayName, "--models", store.Root, "--insecure");

        Assert.NotEqual(0, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("read-only", line, StringComparison.Ordinal);
    }

    /// <summary>
    /// A registry behind htpasswd: <c>--creds</c> pushes (the token of a write asks for push scope; here Basic), and
    /// without credentials the push stops at the first upload with one line naming what to do.
    /// </summary>
    [Fact]
    public async Task Cli_AuthenticatedRegistry_PushesWithCreds_AndRefusesWithoutThem()
    {
        await using DockerRegistry secured = await StartSecuredAsync();
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(secured.HostAndPort);

        (int exit, _, string stderr) = await RegcProcess.RunAsync("push", name.DisplayName, "--models", store.Root, "--insecure");
        Assert.NotEqual(0, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("401", line, StringComparison.Ordinal);
        Assert.Contains("regc login", line, StringComparison.Ordinal);

        (exit, string stdout, stderr) = await RegcProcess.RunAsync("push", name.DisplayName, "--models", store.Root, "--insecure", "--creds", "carol:s3cret:pass");
        Assert.True(exit == 0, stderr);
        Assert.Contains("uploaded 4 blob(s)", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", stdout + stderr, StringComparison.Ordinal);

        var credentials = new RegistryCredential("carol", "s3cret:pass");
        var back = new ModelStore(_temp.Combine("back-secured"));
        await new ModelPuller(Registries.Create(Plain with { Credentials = new Only(secured.HostAndPort, credentials) }), back).PullAsync([name], cancellationToken: Token);
        Assert.Equal(manifest, await File.ReadAllBytesAsync(back.FindManifest(name).Path, Token));
    }

    /// <summary>
    /// Credentials as the ecosystem keeps them: a Docker credential helper named by <c>credHelpers</c> (run with the
    /// host on standard input), and containers' <c>auth.json</c> named by <c>REGISTRY_AUTH_FILE</c>.
    /// </summary>
    [Fact]
    public async Task Cli_CredentialHelper_AndAuthFile_AreUsedForPush()
    {
        await using DockerRegistry secured = await StartSecuredAsync();
        (ModelStore store, ModelName name, _) = await ModelAsync(secured.HostAndPort);

        // A helper that answers only for this registry, and records the host it was asked about.
        string bin = Directory.CreateDirectory(_temp.Combine("bin")).FullName;
        string asked = _temp.Combine("asked");
        string helper = Path.Combine(bin, "docker-credential-regctest");
        await File.WriteAllTextAsync(helper, $$"""
            #!/bin/sh
            [ "$1" = get ] || exit 1
            read host
            echo "$host" >> {{asked}}
            [ "$host" = "{{secured.HostAndPort}}" ] || { echo "credentials not found in native keychain"; exit 1; }
            echo '{"ServerURL":"{{secured.HostAndPort}}","Username":"carol","Secret":"s3cret:pass"}'
            """, Token);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        string dockerConfig = Directory.CreateDirectory(_temp.Combine("docker")).FullName;
        await File.WriteAllTextAsync(Path.Combine(dockerConfig, "config.json"), $$$"""{"credHelpers":{"{{{secured.HostAndPort}}}":"regctest"}}""", Token);
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH"),
            ["DOCKER_CONFIG"] = dockerConfig,
        };

        (int exit, string stdout, string stderr) = await RegcProcess.RunWithAsync(environment, null, "push", name.DisplayName, "--models", store.Root, "--insecure");

        Assert.True(exit == 0, stderr);
        Assert.Contains("uploaded 4 blob(s)", stdout, StringComparison.Ordinal);
        Assert.Contains(secured.HostAndPort, await File.ReadAllTextAsync(asked, Token), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", stdout + stderr, StringComparison.Ordinal);

        // containers' auth.json, as podman login writes it, named by REGISTRY_AUTH_FILE (Docker's config has nothing).
        string authFile = _temp.Combine("auth.json");
        string basic = Convert.ToBase64String(Encoding.UTF8.GetBytes("carol:s3cret:pass"));
        await File.WriteAllTextAsync(authFile, $$$$"""{"auths":{"{{{{secured.HostAndPort}}}}":{"auth":"{{{{basic}}}}"}}}""", Token);
        var other = ModelName.Parse($"{secured.HostAndPort}/library/again:latest");
        await store.CopyModelAsync(name, other, Token);
        (exit, stdout, stderr) = await RegcProcess.RunWithAsync(
            new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = authFile }, null, "push", other.DisplayName, "--models", store.Root, "--insecure");
        Assert.True(exit == 0, stderr);
        Assert.Contains("pushed", stdout, StringComparison.Ordinal);
    }

    private async Task<DockerRegistry> StartSecuredAsync()
    {
        string htpasswd = _temp.Combine($"htpasswd-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(htpasswd, await RegistryClient.Tests.Remote.RegistryAuthTests.HtpasswdLineAsync("carol", "s3cret:pass"), Token);
        return await DockerRegistry.StartAsync($"""
            auth:
              htpasswd:
                realm: regc-tests
                path: {htpasswd}
            """);
    }

    private sealed class Only(string authority, RegistryCredential credential) : ICredentialSource
    {
        public RegistryCredential? Find(string wanted) => wanted == authority ? credential : null;
    }

    /// <summary>
    /// The chunk lists travel beside the model as an OCI 1.1 artifact; docker-registry 2.8 has no referrers API, so it
    /// is listed at the referrers tag. A pull from this registry (no chunksums endpoint) finds it and gets the chunk
    /// path: the list is kept with the blob, and a damaged byte is then repaired by fetching its one chunk.
    /// </summary>
    [Fact]
    public async Task ChunkIndex_TravelsBesideTheModel_AndGivesPullsFromAPlainRegistryTheChunkPath()
    {
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(_registry.HostAndPort);
        var options = new PushOptions { ChunkSize = Chunk, MaxChunkSize = Chunk, ChunkIndexThreshold = 4 << 20, ChunkIndexChunkSize = 1 << 20 };

        PushResult pushed = await new ModelPusher(Registries.Create(Plain), store, options).PushAsync(name, cancellationToken: Token);

        Assert.Equal(1, pushed.ChunkLists);
        FetchedManifest referrers = await Registries.Create(Plain).GetManifestAsync(name.WithTag(ChunkIndexArtifact.ReferrersTag(pushed.ManifestDigest)), Token);
        Descriptor artifact = Assert.Single(ChunkIndexArtifact.FindInReferrers(referrers.Bytes.Span));
        FetchedManifest artifactBytes = await Registries.Create(Plain).GetManifestAsync(name, artifact.Digest, Token);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];
        Assert.Contains(weights.Digest, ChunkIndexArtifact.ReadLists(artifactBytes.Bytes.Span, pushed.ManifestDigest).Keys);

        // Pushed again: the same artifact (same bytes), still one entry at the referrers tag.
        await new ModelPusher(Registries.Create(Plain), store, options).PushAsync(name, cancellationToken: Token);
        referrers = await Registries.Create(Plain).GetManifestAsync(name.WithTag(ChunkIndexArtifact.ReferrersTag(pushed.ManifestDigest)), Token);
        Assert.Equal(artifact, Assert.Single(ChunkIndexArtifact.FindInReferrers(referrers.Bytes.Span)));

        var back = new ModelStore(_temp.Combine("back-indexed"));
        var client = new ModelClient(Registries.Create(Plain), back, new ModelClientOptions { Pull = new PullOptions { ChunkSumsThreshold = 1 << 20 } });
        await client.PullAsync(name.DisplayName, cancellationToken: Token);
        ChunkList kept = back.TryReadChunkList(weights.Digest, weights.Size) ?? throw new InvalidOperationException("the pull kept no chunk list: it did not use the chunk index");
        Assert.Equal(store.ComputeChunkList(weights.Digest, weights.Size, 1 << 20, Token).ToBytes(), kept.ToBytes());

        // One flipped byte: verify names the blob, and repair fetches one 1 MiB chunk, not the 6 MiB blob.
        string path = back.GetBlobPath(weights.Digest);
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = (3L << 20) + 5;
            int b = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(b ^ 0xff));
        }

        VerifyReport report = await client.VerifyAsync(Token);
        Assert.False(report.IsHealthy);
        PullResult repaired = await client.RepairAsync(report, cancellationToken: Token);
        Assert.True(repaired.BytesFetched <= 1 << 20, $"the repair fetched {repaired.BytesFetched} bytes");
        Assert.Equal(await File.ReadAllBytesAsync(store.GetBlobPath(weights.Digest), Token), await File.ReadAllBytesAsync(path, Token));
    }

    /// <summary>
    /// <c>regc copy</c>: registry to an OCI layout, the layout to a second registry, and within the second registry to
    /// another repository (mounted). Every hop keeps the manifest's bytes, as skopeo reads them back.
    /// </summary>
    [Fact]
    public async Task Cli_Copy_RegistryToLayoutToRegistry_AndAcrossRepositories_KeepsTheBytes()
    {
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(_registry.HostAndPort);
        await Pusher(store).PushAsync(name, cancellationToken: Token);
        await using DockerRegistry second = await DockerRegistry.StartAsync();
        string layout = _temp.Combine("layout");
        string local = _temp.Combine("local-store");

        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("copy", name.DisplayName, $"oci:{layout}", "--insecure", "--models", local);
        Assert.True(exit == 0, stderr);
        (exit, stdout, stderr) = await RegcProcess.RunAsync("copy", $"oci:{layout}:latest", $"{second.HostAndPort}/mirrored/model:v1", "--insecure", "--models", local);
        Assert.True(exit == 0, stderr);
        Assert.Contains("uploaded 4 blob(s)", stdout, StringComparison.Ordinal);
        (exit, stdout, stderr) = await RegcProcess.RunAsync("copy", $"{second.HostAndPort}/mirrored/model:v1", $"{second.HostAndPort}/other/model:v2", "--insecure", "--models", local);
        Assert.True(exit == 0, stderr);
        Assert.Contains("mounted 4 blob(s)", stdout, StringComparison.Ordinal);

        foreach (string copy in new[] { $"{second.HostAndPort}/mirrored/model:v1", $"{second.HostAndPort}/other/model:v2" })
        {
            (int code, string raw, string error) = await ExternalTool.RunAsync("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{copy}");
            Assert.True(code == 0, error);
            Assert.Equal(Encoding.UTF8.GetString(manifest), raw.TrimEnd('\n'));
            await AssertRegistryServesAsync(ModelName.Parse(copy), store, manifest);
        }
    }

    /// <summary>
    /// A blob the registry has but the store's copy of which rotted: the push skips it (HEAD), and no chunk list is made
    /// from the damaged bytes, published or kept; the push says so in a warning and succeeds.
    /// </summary>
    [Fact]
    public async Task ChunkIndex_IsNeverMadeFromADamagedBlob()
    {
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(_registry.HostAndPort);
        await new ModelPusher(Registries.Create(Plain), store, new PushOptions { ChunkSize = Chunk, MaxChunkSize = Chunk, ChunkIndex = false }).PushAsync(name, cancellationToken: Token);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];
        await using (var file = new FileStream(store.GetBlobPath(weights.Digest), FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = 12345;
            int b = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(b ^ 1));
        }

        PushResult again = await new ModelPusher(Registries.Create(Plain), store, new PushOptions { ChunkSize = Chunk, MaxChunkSize = Chunk, ChunkIndexThreshold = 4 << 20, ChunkIndexChunkSize = 1 << 20 })
            .PushAsync(name, cancellationToken: Token);

        Assert.Equal(0, again.ChunkLists);
        Assert.Contains("damaged", again.Warning, StringComparison.Ordinal);
        Assert.Null(store.TryReadChunkList(weights.Digest, weights.Size));
        await Assert.ThrowsAsync<ModelNotFoundException>(() => Registries.Create(Plain).GetManifestAsync(name.WithTag(ChunkIndexArtifact.ReferrersTag(again.ManifestDigest)), Token));
    }

    /// <summary>
    /// nginx with <c>client_max_body_size 2m</c> in front of the registry, as sites put one: the whole-blob PUT and the
    /// 16 MiB chunks are refused with 413, the push halves its requests until they pass and finishes, at once (no
    /// retry waits), and the registry serves the model byte for byte.
    /// </summary>
    [Fact]
    public async Task BodyLimitInFront_HalvesTheRequestsUntilTheyPass()
    {
        await using Nginx proxy = await Nginx.StartAsync(_registry.HostAndPort, "2m");
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(proxy.HostAndPort);
        var slowRetries = Plain with { RetryDelay = TimeSpan.FromSeconds(30), MaxRetryDelay = TimeSpan.FromSeconds(30) };
        var clock = System.Diagnostics.Stopwatch.StartNew();

        PushResult result = await new ModelPusher(Registries.Create(slowRetries), store, new PushOptions { Concurrency = 1 }).PushAsync(name, cancellationToken: Token);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the push took {clock.Elapsed}: a 413 waited for a retry");
        Assert.Equal(4, result.BlobsUploaded);
        string[] refused = proxy.AccessLog.Split('\n').Where(l => l.Contains("\" 413 ", StringComparison.Ordinal)).ToArray();
        Assert.InRange(refused.Length, 1, 4); // 16 MiB -> 8 -> 4 -> 2 MiB, which passes
        await AssertRegistryServesAsync(name, store, manifest);
    }

    /// <summary>
    /// A registry that takes no chunks, refusing every PATCH (405) or answering it as a finished upload (201, as ECR
    /// does): the push finds out at its first chunk and sends every blob whole from then on. Told beforehand
    /// (<c>--chunk-size HOST=0</c>), it sends no PATCH at all.
    /// </summary>
    [Theory]
    [InlineData(405, false)]
    [InlineData(201, false)]
    [InlineData(405, true)]
    public async Task RegistryThatTakesNoChunks_GetsWholeBlobs(int patchStatus, bool told)
    {
        await using Nginx nginx = await Nginx.StartAsync(_registry.HostAndPort, "0", patchStatus);
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(nginx.HostAndPort);

        if (told)
        {
            (int exit, string stdout, string stderr) = await RegcProcess.RunAsync(
                "push", name.DisplayName, "--models", store.Root, "--insecure", "--chunk-size", "1M", "--chunk-size", $"{nginx.HostAndPort}=0");
            Assert.True(exit == 0, stderr);
            Assert.Contains("uploaded 4 blob(s)", stdout, StringComparison.Ordinal);
        }
        else
        {
            PushResult result = await Pusher(store).PushAsync(name, cancellationToken: Token);
            Assert.Equal(4, result.BlobsUploaded);
        }

        string[] patches = nginx.AccessLog.Split('\n').Where(l => l.Contains("\"PATCH ", StringComparison.Ordinal)).ToArray();
        if (told)
        {
            Assert.Empty(patches);
        }
        else
        {
            // The two blobs larger than a chunk may both have tried one before the first refusal was seen; never more.
            Assert.InRange(patches.Length, 1, 2);
        }

        await AssertRegistryServesAsync(name, store, manifest);
    }

    /// <summary>Pulls the model back with regc into a new store: every blob is verified on the way, and equals the original.</summary>
    private async Task AssertRegistryServesAsync(ModelName name, ModelStore original, byte[] manifest)
    {
        var back = new ModelStore(_temp.Combine($"back-{Guid.NewGuid():N}"));
        await new ModelPuller(Registries.Create(Plain), back).PullAsync([name], cancellationToken: Token);
        StoreAuditor.AssertConsistent(back);
        Assert.Equal(manifest, await File.ReadAllBytesAsync(back.FindManifest(name).Path, Token));
        foreach (Descriptor blob in Manifest.Parse(manifest).Blobs)
        {
            Assert.Equal(await File.ReadAllBytesAsync(original.GetBlobPath(blob.Digest), Token), await File.ReadAllBytesAsync(back.GetBlobPath(blob.Digest), Token));
        }
    }
}
