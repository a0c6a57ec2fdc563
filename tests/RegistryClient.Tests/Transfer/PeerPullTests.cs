using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// Pulls that take chunks from peers: three <c>regc serve</c> on 127.0.0.2-4 holding the model, the origin (the only
/// source of the manifest and the chunk digests) behind a slow link. Bytes are counted on the origin's link.
/// </summary>
public sealed class PeerPullTests : IAsyncLifetime
{
    private const long ChunkSize = 1 << 20;
    private static readonly long[] s_layers = [96L << 20, 1L << 20, 5];
    private const string Name = "library/shared:latest";

    private readonly TempDirectory _temp = new();
    private readonly List<OwnRegistry> _servers = [];
    private ModelStore _source = null!;
    private byte[] _manifest = null!;

    public async ValueTask InitializeAsync() =>
        (_source, _manifest) = await TestModels.CreateAsync(_temp.Combine("origin"), $"{ModelName.DefaultHost}/{Name}", s_layers, 17);

    public async ValueTask DisposeAsync()
    {
        foreach (OwnRegistry server in _servers)
        {
            await server.DisposeAsync();
        }

        _temp.Dispose();
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private Descriptor Weights => Manifest.Parse(_manifest).Layers[0];

    private async Task<OwnRegistry> ServeAsync(ModelStore store, string address)
    {
        OwnRegistry server = await OwnRegistry.StartAsync(store, ChunkSize, listen: $"{address}:0");
        _servers.Add(server);
        return server;
    }

    /// <summary>A peer's store: the same model, written again (the same seed gives the same bytes).</summary>
    private async Task<ModelStore> PeerStoreAsync(int peer) =>
        (await TestModels.CreateAsync(_temp.Combine($"peer-{peer}"), $"{ModelName.DefaultHost}/{Name}", s_layers, 17)).Store;

    private async Task<(PullResult Result, ModelStore Store, long FromOrigin)> PullWithPeersAsync(ModelStore?[] peerStores, bool cli = false)
    {
        OwnRegistry origin = await ServeAsync(_source, "127.0.0.1");
        await using var slow = new CountingLink(origin.HostAndPort, bytesPerSecond: 4 << 20); // 4 MiB/s
        var peers = new List<Uri>();
        for (int i = 0; i < peerStores.Length; i++)
        {
            OwnRegistry peer = await ServeAsync(peerStores[i]!, $"127.0.0.{i + 2}");
            peers.Add(peer.BaseAddress);
        }

        var store = new ModelStore(_temp.Combine($"client-{Guid.NewGuid():N}"));
        var name = ModelName.Parse($"{slow.HostAndPort}/{Name}");
        if (cli)
        {
            // The command line: --peer for two, $REGC_PEERS for the third; warnings on stderr, one line each.
            (int exit, string stdout, string stderr) = await Cli.RegcProcess.RunWithAsync(
                new Dictionary<string, string> { ["REGC_PEERS"] = peers[2].ToString() },
                null,
                ["pull", name.DisplayName, "--models", store.Root, "--insecure", "--peer", peers[0].ToString(), "--peer", peers[1].ToString()]);
            Assert.True(exit == 0, stderr);
            // The corrupt peer may be dropped before it delivered a good chunk: two or three peers carried bytes.
            Assert.Matches(@"of it from [23] peer\(s\)", stdout);
            StoreAuditor.AssertConsistent(store);
            string[] warnings = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("warning: ", StringComparison.Ordinal)).ToArray();
            return (new PullResult([], 0, 0, 0, 0, TimeSpan.Zero) { Warnings = warnings }, store, slow.BytesToClients);
        }

        PullResult result = await new ModelPuller(Registries.Create(Registries.FastRetries with { Insecure = true }), store, new PullOptions { Peers = peers })
            .PullAsync([name], cancellationToken: Token);
        StoreAuditor.AssertConsistent(store);
        Assert.Equal(_manifest, await File.ReadAllBytesAsync(store.FindManifest(name).Path, Token));
        return (result, store, slow.BytesToClients);
    }

    [Fact]
    public async Task ThreePeers_CarryTheBlob_TheSlowOriginSendsAtMostATenth()
    {
        ModelStore[] peers = await Task.WhenAll(Enumerable.Range(2, 3).Select(PeerStoreAsync));

        (PullResult result, _, long fromOrigin) = await PullWithPeersAsync(peers);

        long weights = Weights.Size;
        Assert.True(fromOrigin <= weights / 10, $"the origin sent {fromOrigin} bytes of a {weights}-byte blob that three peers hold");
        Assert.Empty(result.Warnings);
        Assert.Equal(3, result.BytesBySource.Keys.Count(k => k.StartsWith("http://127.0.0.", StringComparison.Ordinal) && !k.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
        Assert.True(result.BytesBySource.Where(p => p.Key != "origin").Sum(p => p.Value) >= weights * 9 / 10);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task APeerServingACorruptChunk_IsDroppedAndNamed_AndNothingCorruptIsKept(bool cli)
    {
        ModelStore[] peers = await Task.WhenAll(Enumerable.Range(2, 3).Select(PeerStoreAsync));
        using (FileStream file = File.Open(peers[2].GetBlobPath(Weights.Digest), FileMode.Open, FileAccess.ReadWrite))
        {
            // One flipped byte in every 8 MiB: whichever chunks the peer gets, it soon serves a wrong one.
            for (long at = 12345; at < Weights.Size; at += 8 << 20)
            {
                file.Position = at;
                int b = file.ReadByte();
                file.Position = at;
                file.WriteByte((byte)(b ^ 0x20));
            }
        }

        (PullResult result, ModelStore store, _) = await PullWithPeersAsync(peers, cli);

        string warning = Assert.Single(result.Warnings);
        Assert.Contains("127.0.0.4", warning, StringComparison.Ordinal);
        Assert.Contains("does not match", warning, StringComparison.Ordinal);
        Assert.Equal(Digest.Compute(await File.ReadAllBytesAsync(_source.GetBlobPath(Weights.Digest), Token)), Digest.Compute(await File.ReadAllBytesAsync(store.GetBlobPath(Weights.Digest), Token)));
    }
}
