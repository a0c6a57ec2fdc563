using System.Globalization;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// The hash window: ranges of a blob start only within <see cref="PullOptions.HashWindow"/> of its hashed prefix,
/// and workers take other blobs' ranges meanwhile instead of waiting.
/// </summary>
public sealed class HashWindowTests : IDisposable
{
    private const int RangeSize = 64 << 10;
    private const long Window = 4 * RangeSize;
    private static readonly byte[] s_config = "{}"u8.ToArray();

    private readonly TempDirectory _temp = new();
    private readonly byte[] _big = new byte[64 * RangeSize];
    private readonly byte[] _small = new byte[100_000];

    public HashWindowTests()
    {
        SampleDataStream.Fill(21, 0, _big);
        SampleDataStream.Fill(22, 0, _small);
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Pull_WhileTheFirstRangeIsHeld_StartsNothingBeyondTheWindowButFetchesOtherBlobs()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        var big = new Descriptor(MediaTypes.OllamaModel, Digest.Compute(_big), _big.Length);
        var small = new Descriptor(MediaTypes.OllamaLicense, Digest.Compute(_small), _small.Length);
        byte[] manifest = SampleModel.BuildManifest(new Descriptor(MediaTypes.DockerConfig, Digest.Compute(s_config), s_config.Length), [big, small]);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using FaultServer server = await FaultServer.StartAsync(async context =>
        {
            string path = context.Request.Path.Value!;
            if (path.Contains(big.Digest.ToString(), StringComparison.Ordinal))
            {
                if (context.Request.Headers.Range.ToString().StartsWith("bytes=0-", StringComparison.Ordinal))
                {
                    await release.Task.WaitAsync(TimeSpan.FromSeconds(20), context.RequestAborted); // the hash cannot move
                }

                await FaultServer.ServeRangeAsync(context, _big);
            }
            else if (path.Contains(small.Digest.ToString(), StringComparison.Ordinal))
            {
                await FaultServer.ServeRangeAsync(context, _small);
            }
            else if (path.Contains("/blobs/", StringComparison.Ordinal))
            {
                await context.Response.Body.WriteAsync(s_config, context.RequestAborted);
            }
            else
            {
                context.Response.ContentType = MediaTypes.DockerManifest;
                await context.Response.Body.WriteAsync(manifest, context.RequestAborted);
            }
        });
        var store = new ModelStore(_temp.Combine("store"));
        var puller = new ModelPuller(Registries.Create(), store, new PullOptions
        {
            RangeSize = RangeSize,
            ParallelThreshold = RangeSize,
            ChunkSumsThreshold = long.MaxValue,
            Concurrency = 8,
            HashWindow = Window,
        });

        Task pull = puller.PullAsync([ModelName.Parse($"http://{server.HostAndPort}/library/m:latest")], cancellationToken: cancel);
        DateTime deadline = DateTime.UtcNow.AddSeconds(15);
        while ((server.CountRequests(small.Digest.ToString()) < 2 || BigRangeStarts(server, big).Count < 4) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, cancel);
        }

        await Task.Delay(500, cancel); // time for any range beyond the window to be asked for, were it allowed
        List<long> startsWhileHeld = BigRangeStarts(server, big);
        int smallWhileHeld = server.CountRequests(small.Digest.ToString());
        release.SetResult();
        await pull;

        Assert.Equal(2, smallWhileHeld); // both ranges of the other blob came while the big one's hash waited
        Assert.Equal([0, RangeSize, 2 * RangeSize, 3 * RangeSize], startsWhileHeld.Distinct().Order());
        Assert.Equal(_big, await File.ReadAllBytesAsync(store.GetBlobPath(big.Digest), cancel));
        Assert.Equal(64, BigRangeStarts(server, big).Distinct().Count());
        StoreAuditor.AssertConsistent(store);
    }

    [Fact]
    public async Task Pull_GivesTheBlobsPagesBack_NothingOfItStaysInThePageCache()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        var big = new Descriptor(MediaTypes.OllamaModel, Digest.Compute(_big), _big.Length);
        byte[] manifest = SampleModel.BuildManifest(new Descriptor(MediaTypes.DockerConfig, Digest.Compute(s_config), s_config.Length), [big]);
        await using FaultServer server = await FaultServer.StartAsync(context => context.Request.Path.Value!.Contains("/blobs/", StringComparison.Ordinal)
            ? FaultServer.ServeRangeAsync(context, context.Request.Path.Value.Contains(big.Digest.ToString(), StringComparison.Ordinal) ? _big : s_config)
            : context.Response.Body.WriteAsync(manifest, context.RequestAborted).AsTask());
        using TempDirectory disk = TempDirectory.OnDisk();
        var store = new ModelStore(disk.Combine("store"));
        var puller = new ModelPuller(Registries.Create(), store, new PullOptions { RangeSize = RangeSize, ParallelThreshold = RangeSize, ChunkSumsThreshold = long.MaxValue, HashWindow = Window });

        await puller.PullAsync([ModelName.Parse($"http://{server.HostAndPort}/library/m:latest")], cancellationToken: cancel);

        // fincore (util-linux) counts the file's pages in the page cache; a plain write would leave all 4 MiB there.
        (int exit, string resident, string error) = await ExternalTool.RunAsync("fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", store.GetBlobPath(big.Digest));
        Assert.True(exit == 0, error);
        Assert.Equal("0", resident.Trim());
        Assert.Equal(_big, await File.ReadAllBytesAsync(store.GetBlobPath(big.Digest), cancel));
    }

    [Fact]
    public void Options_WindowBelow64KiB_IsRefusedByName()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new ModelPuller(Registries.Create(), new ModelStore(_temp.Combine("store")), new PullOptions { HashWindow = 1024 }));
        Assert.Equal(nameof(PullOptions.HashWindow), error.ParamName);
    }

    private static List<long> BigRangeStarts(FaultServer server, Descriptor big) =>
        server.Requests
            .Where(r => r.Path.Contains(big.Digest.ToString(), StringComparison.Ordinal) && r.Range.StartsWith("bytes=", StringComparison.Ordinal))
            .Select(r => long.Parse(r.Range[6..r.Range.IndexOf('-', StringComparison.Ordinal)], CultureInfo.InvariantCulture))
            .ToList();
}
