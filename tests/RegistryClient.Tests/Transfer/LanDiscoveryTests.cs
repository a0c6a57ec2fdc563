using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// <c>regc serve --announce</c> and <c>regc pull --discover</c> in a network namespace of the test's own (loopback with
/// multicast on): the pull finds the announcing server by multicast DNS and takes chunks from it, checked against the
/// origin's digests. Nothing leaves the namespace.
/// </summary>
public sealed class LanDiscoveryTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task APullWithDiscover_FindsTheAnnouncingServer_AndTakesChunksFromIt()
    {
        using NetworkNamespace space = NetworkNamespace.Create();
        const string Name = "127.0.0.1:5000/library/shared:latest";
        long[] layers = [64L << 20, 5];
        (ModelStore origin, byte[] manifest) = await TestModels.CreateAsync(_temp.Combine("origin"), Name, layers, 31);
        (ModelStore peer, _) = await TestModels.CreateAsync(_temp.Combine("peer"), Name, layers, 31);
        Descriptor weights = Manifest.Parse(manifest).Layers[0];

        using RegcRun originServe = RegcProcess.StartWrapped(space.Exec, "serve", "--models", origin.Root, "--listen", "127.0.0.1:5000", "--chunk-size", "1");
        using RegcRun peerServe = RegcProcess.StartWrapped(space.Exec, "serve", "--models", peer.Root, "--listen", "127.0.0.1:5001", "--announce");
        await Task.Delay(1500, Token); // both listening (a pull that came too early would fail below, not pass)

        string client = _temp.Combine("client");
        using RegcRun pull = RegcProcess.StartWrapped(space.Exec, "pull", Name, "--models", client, "--insecure", "--discover");
        (int exit, string stdout, string stderr) = await pull.WaitAsync();

        Assert.True(exit == 0, $"{stdout} {stderr}");
        Assert.Contains("found 1 regc serve(s) on the local network: http://127.0.0.1:5001/", stderr, StringComparison.Ordinal);
        Assert.Contains("from 1 peer(s)", stdout, StringComparison.Ordinal);
        var store = new ModelStore(client);
        StoreAuditor.AssertConsistent(store);
        Assert.Equal(weights.Size, store.GetBlobSize(weights.Digest));
        Assert.False(originServe.Process.HasExited || peerServe.Process.HasExited, "a server stopped early");
    }
}
