using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Server;

/// <summary>
/// <c>regc serve --pull-through</c> in front of Debian's docker-registry: concurrent cold pulls fetch each blob from the
/// upstream once, a client that leaves does not stop a fill, Range requests during a fill are answered 206, and tags
/// are asked of the upstream again after their time to live (the kept manifest when it is down). Upstream bytes are
/// counted on the wire between the cache and docker-registry.
/// </summary>
public sealed class PullThroughTests : IAsyncLifetime
{
    private static readonly long[] s_layers = [256L << 20, 1L << 20, 5];

    private readonly TempDirectory _temp = new();
    private DockerRegistry _upstream = null!;
    private CountingLink _link = null!;

    public async ValueTask InitializeAsync()
    {
        _upstream = await DockerRegistry.StartAsync();
        _link = new CountingLink(_upstream.HostAndPort);
    }

    public async ValueTask DisposeAsync()
    {
        await _link.DisposeAsync();
        await _upstream.DisposeAsync();
        _temp.Dispose();
    }

    private static readonly RegistryOptions Plain = Registries.FastRetries with { Insecure = true };

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>A model pushed into the upstream (through the counting link, which is then reset to zero by the caller's arithmetic).</summary>
    private async Task<(ModelStore Store, byte[] Manifest, long Bytes)> UpstreamModelAsync(string repository, long[] layers, ulong seed)
    {
        var name = ModelName.Parse($"{_link.HostAndPort}/{repository}");
        (ModelStore store, byte[] manifest) = await TestModels.CreateOciAsync(_temp.Combine($"upstream-{seed}"), name, layers, seed);
        await new ModelPusher(Registries.Create(Plain), store, new PushOptions { ChunkIndex = false }).PushAsync(name, cancellationToken: Token);
        return (store, manifest, Manifest.Parse(manifest).Blobs.Sum(b => b.Size));
    }

    [Fact]
    public async Task FourColdPulls_FetchEachBlobFromTheUpstreamOnce()
    {
        (_, byte[] manifest, long total) = await UpstreamModelAsync("library/big:latest", s_layers, 1);
        var cacheStore = new ModelStore(_temp.Combine("cache"));
        await using OwnRegistry cache = await OwnRegistry.StartAsync(cacheStore, pullThrough: _link.HostAndPort);
        long before = _link.BytesToClients;
        var name = ModelName.Parse($"{cache.HostAndPort}/library/big:latest");

        ModelStore[] clients = Enumerable.Range(0, 4).Select(i => new ModelStore(_temp.Combine($"client-{i}"))).ToArray();
        await Task.WhenAll(clients.Select(c => new ModelPuller(Registries.Create(Plain), c).PullAsync([name], cancellationToken: Token)));

        long fromUpstream = _link.BytesToClients - before;
        Assert.True(fromUpstream <= total * 1.1, $"the upstream served {fromUpstream} bytes for a {total}-byte model pulled four times through the cache");
        Assert.Equal(total, cache.BytesFilled);
        foreach (ModelStore client in clients)
        {
            StoreAuditor.AssertConsistent(client);
            Assert.Equal(manifest, await File.ReadAllBytesAsync(client.FindManifest(name).Path, Token));
        }

        // The cache keeps the model under the upstream's name once all its blobs are in, as regc pull would.
        var kept = ModelName.Parse($"{_link.HostAndPort}/library/big:latest");
        await WaitForAsync(() => File.Exists(cacheStore.GetManifestPath(kept)));
        StoreAuditor.AssertConsistent(cacheStore);
        Assert.Equal(manifest, await File.ReadAllBytesAsync(cacheStore.GetManifestPath(kept), Token));
    }

    /// <summary>
    /// A pull killed while the cache fills goes away; the fill goes on to the end. Meanwhile a Range request is answered
    /// 206 with the right bytes, and a later pull takes everything from the cache.
    /// </summary>
    [Fact]
    public async Task AClientThatLeaves_DoesNotStopTheFill_AndRangesAreAnswered206()
    {
        (ModelStore source, byte[] manifest, long total) = await UpstreamModelAsync("library/big:latest", s_layers, 2);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];
        var cacheStore = new ModelStore(_temp.Combine("cache"));
        await using OwnRegistry cache = await OwnRegistry.StartAsync(cacheStore, pullThrough: _link.HostAndPort);
        long before = _link.BytesToClients;
        var name = ModelName.Parse($"{cache.HostAndPort}/library/big:latest");

        using (RegcRun run = RegcProcess.Start(null, "pull", name.DisplayName, "--models", _temp.Combine("killed"), "--insecure"))
        {
            await WaitForAsync(() => _link.BytesToClients - before > weights.Size / 10 || run.Process.HasExited);
            Assert.False(run.Process.HasExited, "the pull ended before the fill was under way");
            Assert.Equal(0, Signals.Send(run.Process.Id, Signals.Sigkill));
            await run.WaitAsync();
        }

        using var http = new HttpClient { BaseAddress = cache.BaseAddress };
        using var range = new HttpRequestMessage(HttpMethod.Get, $"/v2/library/big/blobs/{weights.Digest}");
        range.Headers.Range = new RangeHeaderValue(1000, 1999);
        using HttpResponseMessage partial = await http.SendAsync(range, Token);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        byte[] expected = new byte[1000];
        using (FileStream file = File.OpenRead(source.GetBlobPath(weights.Digest)))
        {
            file.Position = 1000;
            file.ReadExactly(expected);
        }

        Assert.Equal(expected, await partial.Content.ReadAsByteArrayAsync(Token));

        var later = new ModelStore(_temp.Combine("later"));
        await new ModelPuller(Registries.Create(Plain), later).PullAsync([name], cancellationToken: Token);
        StoreAuditor.AssertConsistent(later);
        long fromUpstream = _link.BytesToClients - before;
        Assert.True(fromUpstream <= total * 1.1, $"the upstream served {fromUpstream} bytes for a {total}-byte model");
    }

    /// <summary>
    /// An upstream that gives chunk digests (regc serve) behind a slow link: while the cache fills the blob, a Range
    /// request for its first bytes is answered 206 from the chunks already verified, before the blob is complete, and a
    /// whole-blob request started mid-fill gets every byte right.
    /// </summary>
    [Fact]
    public async Task WhileAFillRuns_VerifiedChunksAreServed_RangesWith206()
    {
        (ModelStore origin, byte[] manifest) = await TestModels.CreateAsync(_temp.Combine("origin"), "registry.ollama.ai/library/big:latest", [96L << 20, 5], 8);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];
        await using OwnRegistry upstream = await OwnRegistry.StartAsync(origin, chunkSize: 1 << 20);
        await using var slow = new CountingLink(upstream.HostAndPort, bytesPerSecond: 16 << 20); // the whole blob takes 6 s
        var cacheStore = new ModelStore(_temp.Combine("cache"));
        await using OwnRegistry cache = await OwnRegistry.StartAsync(cacheStore, pullThrough: slow.HostAndPort);
        using var http = new HttpClient { BaseAddress = cache.BaseAddress };
        Assert.Equal(manifest, await http.GetByteArrayAsync("/v2/library/big/manifests/latest", Token)); // starts the fill

        // The chunk list is the upstream's, at once: clients take the chunk path while the blob fills.
        using var direct = new HttpClient { BaseAddress = upstream.BaseAddress };
        string list = await http.GetStringAsync($"/v2/library/big/chunksums/{weights.Digest}", Token);
        Assert.Null(cacheStore.GetBlobSize(weights.Digest));
        Assert.Equal(await direct.GetStringAsync($"/v2/library/big/chunksums/{weights.Digest}", Token), list);

        using var range = new HttpRequestMessage(HttpMethod.Get, $"/v2/library/big/blobs/{weights.Digest}");
        range.Headers.Range = new RangeHeaderValue(1000, 1999);
        Task<byte[]> whole = http.GetByteArrayAsync($"/v2/library/big/blobs/{weights.Digest}", Token);
        using HttpResponseMessage partial = await http.SendAsync(range, Token);
        byte[] got = await partial.Content.ReadAsByteArrayAsync(Token);
        Assert.Null(cacheStore.GetBlobSize(weights.Digest)); // answered before the fill was done
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal("bytes 1000-1999/" + weights.Size, partial.Content.Headers.GetValues("Content-Range").Single());
        byte[] expected = new byte[1000];
        using (FileStream file = File.OpenRead(origin.GetBlobPath(weights.Digest)))
        {
            file.Position = 1000;
            file.ReadExactly(expected);
        }

        Assert.Equal(expected, got);
        Assert.Equal(weights.Digest, Digest.Compute(await whole));
        await WaitForAsync(() => cacheStore.GetBlobSize(weights.Digest) == weights.Size);
        StoreAuditor.AssertConsistent(cacheStore);
    }

    /// <summary>
    /// An upstream that refuses the blob while the first fill runs (every blob request answered 403): that fill fails,
    /// the requests waiting on it get an error, nothing is kept; the next request starts a new fill, which succeeds.
    /// </summary>
    [Fact]
    public async Task AFailedFill_IsStartedAgainByTheNextRequest()
    {
        (ModelStore origin, byte[] manifest) = await TestModels.CreateAsync(_temp.Combine("origin"), "registry.ollama.ai/library/small:latest", [3L << 20, 5], 9);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];
        await using HostileRegistry upstream = await HostileRegistry.StartAsync(origin, 1 << 20);
        bool refuse = true;
        int refused = 0;
        upstream.Fault = async (context, request) =>
        {
            if (request.Kind != "blob" || !HttpMethods.IsGet(context.Request.Method) || !Volatile.Read(ref refuse))
            {
                return false; // the HEAD that sizes the blob goes through: the fill starts, then its GETs are refused
            }

            Interlocked.Increment(ref refused);
            context.Response.StatusCode = 403;
            await context.Response.WriteAsync("""{"errors":[{"code":"DENIED","message":"not now"}]}""", Token);
            return true;
        };
        var cacheStore = new ModelStore(_temp.Combine("cache"));
        await using OwnRegistry cache = await OwnRegistry.StartAsync(cacheStore, pullThrough: upstream.HostAndPort);
        using var http = new HttpClient { BaseAddress = cache.BaseAddress };

        // The fill fails before any byte went out: a 502 that says why.
        using HttpResponseMessage failed = await http.GetAsync($"/v2/library/small/blobs/{weights.Digest}", Token);
        Assert.Equal(HttpStatusCode.BadGateway, failed.StatusCode);
        Assert.Contains("403", await failed.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        Assert.Null(cacheStore.GetBlobSize(weights.Digest));
        Assert.True(Volatile.Read(ref refused) > 0, "the fill never asked the upstream for the blob");

        Volatile.Write(ref refuse, false);
        byte[] blob = await http.GetByteArrayAsync($"/v2/library/small/blobs/{weights.Digest}", Token);
        Assert.Equal(weights.Digest, Digest.Compute(blob));
        Assert.Equal(weights.Size, cacheStore.GetBlobSize(weights.Digest));
        StoreAuditor.AssertConsistent(cacheStore);
    }

    [Fact]
    public async Task Tags_AreAskedAgainAfterTheirTimeToLive_AndTheKeptOneServesWhenTheUpstreamIsDown()
    {
        (_, byte[] first, _) = await UpstreamModelAsync("library/small:latest", [3000, 5], 3);
        var cacheStore = new ModelStore(_temp.Combine("cache"));
        await using OwnRegistry cache = await OwnRegistry.StartAsync(cacheStore, pullThrough: _link.HostAndPort, tagTtl: TimeSpan.FromSeconds(1));
        using var http = new HttpClient { BaseAddress = cache.BaseAddress };
        Assert.Equal(first, await http.GetByteArrayAsync("/v2/library/small/manifests/latest", Token));

        (_, byte[] second, _) = await UpstreamModelAsync("library/small:latest", [4000, 6], 4);
        Assert.Equal(first, await http.GetByteArrayAsync("/v2/library/small/manifests/latest", Token)); // within its time to live
        await Task.Delay(1200, Token);
        Assert.Equal(second, await http.GetByteArrayAsync("/v2/library/small/manifests/latest", Token));
        var kept = ModelName.Parse($"{_link.HostAndPort}/library/small:latest");
        await WaitForAsync(() => File.Exists(cacheStore.GetManifestPath(kept)) && File.ReadAllBytes(cacheStore.GetManifestPath(kept)).SequenceEqual(second));

        await _link.DisposeAsync(); // the upstream is gone
        await Task.Delay(1200, Token);
        Assert.Equal(second, await http.GetByteArrayAsync("/v2/library/small/manifests/latest", Token));
        using HttpResponseMessage unknown = await http.GetAsync("/v2/library/other/manifests/latest", Token);
        Assert.Equal(HttpStatusCode.BadGateway, unknown.StatusCode);
    }

    /// <summary>The command line: <c>regc serve --pull-through HOST --insecure</c> serves a model it fetches, and says what it pulls through.</summary>
    [Fact]
    public async Task Cli_ServePullThrough_ServesWhatTheUpstreamHas()
    {
        (_, byte[] manifest, _) = await UpstreamModelAsync("library/small:latest", [3000, 5], 5);
        int port = RequiredTool.FreePort();
        using RegcRun serve = RegcProcess.Start(
            null, "serve", "--models", _temp.Combine("cache"), "--listen", $"127.0.0.1:{port}", "--pull-through", _link.HostAndPort, "--insecure", "--tag-ttl", "60");
        var name = ModelName.Parse($"127.0.0.1:{port}/library/small:latest");
        var client = new ModelStore(_temp.Combine("client"));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await new ModelPuller(Registries.Create(Plain), client).PullAsync([name], cancellationToken: Token);
                break;
            }
            catch (RegistryUnreachableException) when (waited.Elapsed < TimeSpan.FromSeconds(20) && !serve.Process.HasExited)
            {
                await Task.Delay(100, Token); // still starting
            }
        }

        Assert.Equal(manifest, await File.ReadAllBytesAsync(client.FindManifest(name).Path, Token));
        Assert.Equal(0, Signals.Send(serve.Process.Id, Signals.Sigterm));
        (int exit, _, string stderr) = await serve.WaitAsync();
        Assert.Equal(0, exit);
        Assert.Contains($"pulling through {_link.HostAndPort}", stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Two <c>regc serve --pull-through</c> processes over one store behind nginx (round robin): four cold pulls
    /// through it cost the upstream each blob once (the store's claims make one process fill while the other waits),
    /// and every store verifies.
    /// </summary>
    [Fact]
    public async Task TwoReplicasOnOneStore_BehindNginx_FillEachBlobOnce()
    {
        (_, byte[] manifest, long total) = await UpstreamModelAsync("library/big:latest", s_layers, 6);
        string shared = _temp.Combine("shared");
        int[] ports = [RequiredTool.FreePort(), RequiredTool.FreePort()];
        RegcRun[] replicas = ports.Select(port => RegcProcess.Start(
            null, "serve", "--models", shared, "--listen", $"127.0.0.1:{port}", "--pull-through", _link.HostAndPort, "--insecure")).ToArray();
        try
        {
            await using Nginx nginx = await Nginx.StartAsync(string.Join(' ', ports.Select(p => $"127.0.0.1:{p}")), "0");
            foreach (int port in ports)
            {
                await WaitForAsync(() => Listening(port));
            }

            long before = _link.BytesToClients;
            var name = ModelName.Parse($"{nginx.HostAndPort}/library/big:latest");
            ModelStore[] clients = Enumerable.Range(0, 4).Select(i => new ModelStore(_temp.Combine($"client-{i}"))).ToArray();
            await Task.WhenAll(clients.Select(c => new ModelPuller(Registries.Create(Plain), c).PullAsync([name], cancellationToken: Token)));

            long fromUpstream = _link.BytesToClients - before;
            Assert.True(fromUpstream <= total * 1.1, $"the upstream served {fromUpstream} bytes for a {total}-byte model pulled four times through two replicas");
            foreach (ModelStore client in clients)
            {
                StoreAuditor.AssertConsistent(client);
                Assert.Equal(manifest, await File.ReadAllBytesAsync(client.FindManifest(name).Path, Token));
            }

            string[] served = nginx.AccessLog.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.All(served, line => Assert.DoesNotContain("\" 50", line, StringComparison.Ordinal));

            // Each replica says what it filled and served (/metrics), and that it is up (/healthz).
            long filled = 0, sentToClients = 0;
            foreach (int port in ports)
            {
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
                Assert.Equal("ok\n", await http.GetStringAsync("/healthz", Token));
                string metrics = await http.GetStringAsync("/metrics", Token);
                filled += Metric(metrics, "regc_server_bytes_filled_total");
                sentToClients += Metric(metrics, "regc_server_bytes_served_total");
            }

            Assert.InRange(filled, total, (long)(total * 1.1));
            Assert.True(sentToClients >= 4 * total, $"the replicas served {sentToClients} bytes to four clients of a {total}-byte model");
        }
        finally
        {
            foreach (RegcRun replica in replicas)
            {
                replica.Dispose();
            }
        }

        StoreAuditor.AssertConsistent(new ModelStore(shared));
    }

    private static long Metric(string text, string name) =>
        long.Parse(text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    private static bool Listening(int port)
    {
        try
        {
            using var probe = new System.Net.Sockets.TcpClient();
            probe.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), "timed out");
            await Task.Delay(20, Token);
        }
    }
}
