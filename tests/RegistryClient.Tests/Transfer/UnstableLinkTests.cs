using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// Links that spoil every connection (a proxy that resets long transfers, a tunnel that stalls after some MiB): a pull
/// keeps going while bytes flow, however many reconnects that takes, and still gives up on a link that delivers nothing.
/// </summary>
public sealed class UnstableLinkTests : IAsyncLifetime
{
    /// <summary>Over the chunksums threshold: 6 chunks of 16 MiB.</summary>
    private const long BigSize = (84L << 20) + 4321;

    /// <summary>The retry budget these tests give: an attempt that makes no progress counts against it.</summary>
    private const int MaxRetries = 2;

    private readonly TempDirectory _temp = new();
    private ModelStore _source = null!;
    private OwnRegistry _registry = null!;

    public async ValueTask InitializeAsync()
    {
        (_source, _) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/flaky:latest", [BigSize, 300_000, 7], seed: 1818);
        _registry = await OwnRegistry.StartAsync(_source);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    private static RegistryOptions Options => Registries.FastRetries with { MaxRetries = MaxRetries, RetryDelay = TimeSpan.FromMilliseconds(10) };

    private ModelName NameThrough(FlakyLink link) => ModelName.Parse($"http://{link.HostAndPort}/library/flaky:latest");

    [Theory]
    [InlineData(true, 2 << 20)]
    [InlineData(false, 2 << 20)]
    [InlineData(true, 1 << 20)]
    [InlineData(false, 4 << 20)]
    public async Task PullAsync_OverALinkThatResetsEveryConnection_Finishes(bool chunkSums, int bytesPerConnection)
    {
        await using var link = new FlakyLink(_registry.HostAndPort, LinkFault.Reset, bytesPerConnection);
        var target = new ModelStore(_temp.Combine("target"));
        var retries = new List<RetryNotice>();
        var progress = new SynchronousProgress(p =>
        {
            if (p.Retry is { } r)
            {
                lock (retries)
                {
                    retries.Add(r);
                }
            }
        });
        var puller = new ModelPuller(Registries.Create(Options), target, new PullOptions
        {
            ChunkSumsThreshold = chunkSums ? new PullOptions().ChunkSumsThreshold : long.MaxValue,
        });

        PullResult result = await puller.PullAsync([NameThrough(link)], progress, TestContext.Current.CancellationToken);

        Assert.Single(result.Models);
        StoreAuditor.AssertConsistent(target);
        Assert.Equal(BigSize, target.GetBlobSize(result.Models[0].Manifest.Layers[0].Digest));

        // The blob needed at least size / budget connections: more than MaxRetries + 1 attempts per range, which is
        // all the old budget allowed (the ranges are 16 MiB; 1 MiB a connection is 16 attempts a range).
        int ranges = (int)Math.Ceiling(BigSize / (double)(16 << 20));
        long needed = BigSize / bytesPerConnection;
        Assert.True(link.Connections >= needed && link.Connections > ranges * (MaxRetries + 1), $"{link.Connections} connections for {ranges} ranges");
        Assert.True(retries.Count >= needed - ranges, $"{retries.Count} retries reported");
        Assert.All(retries, r => Assert.False(string.IsNullOrWhiteSpace(r.Reason)));
        Assert.Contains(retries, r => r.Reason.Contains("connection", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PullAsync_OverALinkThatStallsEveryConnection_Finishes()
    {
        await using var link = new FlakyLink(_registry.HostAndPort, LinkFault.Stall, 2 << 20);
        var target = new ModelStore(_temp.Combine("target"));
        var puller = new ModelPuller(Registries.Create(Options), target, new PullOptions { StallTimeout = TimeSpan.FromSeconds(2) });

        PullResult result = await puller.PullAsync([NameThrough(link)], cancellationToken: TestContext.Current.CancellationToken);

        StoreAuditor.AssertConsistent(target);
        Assert.Equal(BigSize, target.GetBlobSize(result.Models[0].Manifest.Layers[0].Digest));
        int ranges = (int)Math.Ceiling(BigSize / (double)(16 << 20));
        Assert.True(link.Connections >= BigSize / (2 << 20) && link.Connections > ranges * (MaxRetries + 1), $"{link.Connections} connections for {ranges} ranges");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PullAsync_OverALinkWhereStallsAndProgressTakeTurns_Finishes(bool chunkSums)
    {
        // Stalls between attempts that bring MiB each (one stream, so its connections take turns strictly): no stall
        // or failure from before the progress may count towards ending the range. At most two fail in a row: the rest
        // of a kept-alive connection's bytes (too few to count), then a stall.
        await using var link = new FlakyLink(_registry.HostAndPort, LinkFault.Alternate, 8 << 20);
        var target = new ModelStore(_temp.Combine("target"));
        var puller = new ModelPuller(Registries.Create(Options), target, new PullOptions
        {
            Concurrency = 1,
            StallTimeout = TimeSpan.FromSeconds(1),
            ChunkSumsThreshold = chunkSums ? new PullOptions().ChunkSumsThreshold : long.MaxValue,
        });

        PullResult result = await puller.PullAsync([NameThrough(link)], cancellationToken: TestContext.Current.CancellationToken);

        StoreAuditor.AssertConsistent(target);
        Assert.Equal(BigSize, target.GetBlobSize(result.Models[0].Manifest.Layers[0].Digest));
        Assert.True(link.Connections >= 2 * (BigSize / (8 << 20)), $"{link.Connections} connections");
    }

    [Fact]
    public async Task PullAsync_WhenTheBlobNeverArrives_FailsWithinTheStallBound()
    {
        // The manifest passes; every connection stalls after its first 16 KiB, so no blob gets anywhere.
        await using var link = new FlakyLink(_registry.HostAndPort, LinkFault.Stall, 16 << 10);
        var target = new ModelStore(_temp.Combine("target"));
        var stall = TimeSpan.FromSeconds(1);
        var puller = new ModelPuller(Registries.Create(Options), target, new PullOptions { StallTimeout = stall });
        var watch = System.Diagnostics.Stopwatch.StartNew();

        StallTimeoutException error = await Assert.ThrowsAsync<StallTimeoutException>(() => puller.PullAsync([NameThrough(link)], cancellationToken: TestContext.Current.CancellationToken));

        watch.Stop();
        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains("without progress: the registry or the network is not delivering", error.Message, StringComparison.Ordinal);
        Assert.False(error.IsTransient);
        StoreAuditor.AssertNoManifests(target);
        StoreAuditor.AssertConsistent(target);

        // Each range: at most MaxStallsWithoutProgress attempts of one stall timeout each, in parallel. Generous: the
        // bound is what matters, not the exact figure.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>An <see cref="IProgress{T}"/> that calls back on the reporting thread (no synchronization context hop).</summary>
    private sealed class SynchronousProgress(Action<PullProgress> report) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => report(value);
    }
}
