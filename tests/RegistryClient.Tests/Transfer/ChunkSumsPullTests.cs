using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// The chunk path against a scripted registry: every rule of the chunksums list refused with its own message before
/// any blob byte is asked for; chunks verified as they stream; bad chunks fetched again; lying lists never committed.
/// </summary>
public sealed class ChunkSumsPullTests : IDisposable
{
    private const int LayerSize = 1 << 20;
    private const int ChunkSize = 64 << 10;
    private static readonly byte[] s_config = "{}"u8.ToArray();

    private readonly TempDirectory _temp = new();
    private readonly ModelStore _target;
    private readonly string _sentinel;
    private readonly byte[] _layer = new byte[LayerSize];

    public ChunkSumsPullTests()
    {
        _target = new ModelStore(_temp.Combine("store"));
        _sentinel = StoreAuditor.CreateSentinel(_temp.Path);
        SampleDataStream.Fill(21, 0, _layer);
    }

    public void Dispose() => _temp.Dispose();

    private Digest LayerDigest => Digest.Compute(_layer);

    private byte[] Manifest => SampleModel.BuildManifest(
        new Descriptor(MediaTypes.DockerConfig, Digest.Compute(s_config), s_config.Length),
        [new Descriptor(MediaTypes.OllamaModel, LayerDigest, LayerSize)]);

    /// <summary>The true list for the layer, in chunks of <paramref name="chunkSize"/>.</summary>
    private string TrueList(int chunkSize = ChunkSize)
    {
        var text = new StringBuilder();
        for (int start = 0; start < LayerSize; start += chunkSize)
        {
            int end = Math.Min(start + chunkSize, LayerSize) - 1;
            text.Append(CultureInfo.InvariantCulture, $"{Digest.Compute(_layer.AsSpan(start, end - start + 1))} {start}-{end}\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// A registry: the manifest, the config, chunksums from <paramref name="chunkSums"/> (null: 404), and the layer's
    /// bytes (from <paramref name="content"/>, default the true bytes) under both its blob URL and <c>/storage/layer</c>;
    /// <paramref name="blobs"/> may answer a request itself first (returning true).
    /// </summary>
    private Task<FaultServer> ServeAsync(Func<HttpContext, Task>? chunkSums, byte[]? content = null, Func<HttpContext, Task<bool>>? blobs = null) =>
        FaultServer.StartAsync(async context =>
        {
            string path = context.Request.Path.Value!;
            if (blobs is not null && await blobs(context))
            {
                return;
            }

            if (path.Contains("/manifests/", StringComparison.Ordinal))
            {
                context.Response.ContentType = MediaTypes.DockerManifest;
                await context.Response.Body.WriteAsync(Manifest);
            }
            else if (path.EndsWith(Digest.Compute(s_config).ToString(), StringComparison.Ordinal))
            {
                await context.Response.Body.WriteAsync(s_config);
            }
            else if (path.Contains("/chunksums/", StringComparison.Ordinal) && chunkSums is not null)
            {
                await chunkSums(context);
            }
            else if (path.Contains("/blobs/" + LayerDigest, StringComparison.Ordinal) || path == "/storage/layer")
            {
                await FaultServer.ServeRangeAsync(context, content ?? _layer);
            }
            else
            {
                context.Response.StatusCode = 404;
            }
        });

    private static Func<HttpContext, Task> Text(string body, string? location = null) => async context =>
    {
        if (location is not null)
        {
            context.Response.Headers.ContentLocation = location;
        }

        await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes(body));
    };

    private ModelPuller Puller(PullOptions? options = null) =>
        new(Registries.Create(), _target, (options ?? new PullOptions()) with { ChunkSumsThreshold = 1024, StallTimeout = TimeSpan.FromSeconds(5), HashChunksInLanes = true });

    private static ModelName Name(FaultServer server) => ModelName.Parse($"http://{server.HostAndPort}/library/m:latest");

    private async Task<Exception> PullExpectingFailureAsync(FaultServer server, PullOptions? options = null)
    {
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => Puller(options).PullAsync([Name(server)], cancellationToken: TestContext.Current.CancellationToken));
        Assert.DoesNotContain('\n', error.Message);
        StoreAuditor.AssertNoManifests(_target);
        StoreAuditor.AssertConsistent(_target);
        StoreAuditor.AssertSentinelUntouched(_sentinel);
        Assert.Null(_target.GetBlobSize(LayerDigest));
        return error;
    }

    public static TheoryData<string, string> BadLists()
    {
        string d = Digest.Compute("x"u8).ToString();
        string hex = d[7..];
        return new TheoryData<string, string>
        {
            { $"{d} 0-99\n{d} 200-1048575\n", "line 2: range 200-1048575 leaves a gap: bytes 100-199 are not covered" },
            { $"{d} 0-199\n{d} 100-1048575\n", "line 2: range 100-1048575 leaves an overlap: bytes 100-199 are covered twice" },
            { $"{d} 0-99\n{d} 100-599999\n{d} 500000-1048575\n", "line 3: range 500000-1048575 leaves an overlap" },
            { $"{d} 100-1048575\n{d} 0-99\n", "line 1: range 100-1048575 leaves a gap: bytes 0-99" },
            { $"{d} 0-1048576\n", "line 1: range 0-1048576 goes past the end of the 1048576-byte blob" },
            { $"{d} 0-99\n{d} 100-50\n", "line 2: \"100-50\" is not a byte range" },
            { $"{d} +5-9\n", "line 1: \"+5-9\" is not a byte range" },
            { $"{d} -5-9\n", "line 1: \"-5-9\" is not a byte range" },
            { $"{d} 0_99\n", "line 1: \"0_99\" is not a byte range" },
            { $"{d} 0-9223372036854775808\n", "line 1: \"0-9223372036854775808\" is not a byte range" },
            { string.Empty, "line 1: the chunks cover 0 of the blob's 1048576 bytes" },
            { $"{d} 0-524287\n", "cover 524288 of the blob's 1048576 bytes" },
            { $"{d} 0-524287\n{d}", "line 2: a digest without a range" },
            { $"sha256:! 0-1048575\n", "line 1: \"sha256:!\" is not a digest" },
            { $"sha256:{hex[..63]} 0-1048575\n", "is not a digest" },
            { $"sha256:{hex}0 0-1048575\n", "is not a digest" },
            { $"sha256:{hex.ToUpperInvariant()} 0-1048575\n", "is not a digest" },
            { $"sha512:{hex}{hex} 0-1048575\n", "is not a digest" },
            { $"md5:{hex[..32]} 0-1048575\n", "is not a digest" },
            { "0-1048575\n", "line 1: \"0-1048575\" is not a digest" },
            { $"{d} 0-99 {new string('x', 300)}\n", "line 1: the line is longer than 256 bytes" },
        };
    }

    [Theory]
    [MemberData(nameof(BadLists))]
    public async Task Pull_InvalidChunkSums_FailsWithTheRuleAndFetchesNoBlobByte(string body, string expected)
    {
        await using FaultServer server = await ServeAsync(Text(body));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(LayerDigest.Short, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.CountRequests("/blobs/" + LayerDigest));
        Assert.Equal(0, server.CountRequests("/storage/"));
        Assert.Equal(1 + Registries.FastRetries.MaxRetries, server.CountRequests("/chunksums/")); // retried, then the error
    }

    [Fact]
    public async Task Pull_TooManyChunks_IsRefusedWithoutFetching()
    {
        // 65 537 one-byte chunks, each line well-formed: the count cap is what stops it.
        string d = Digest.Compute("x"u8).ToString();
        var body = new StringBuilder();
        for (int i = 0; i <= ChunkList.MaxChunks; i++)
        {
            body.Append(CultureInfo.InvariantCulture, $"{d} {i}-{i}\n");
        }

        await using FaultServer server = await ServeAsync(Text(body.ToString()));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.Contains($"more than {ChunkList.MaxChunks} chunks", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.CountRequests("/blobs/" + LayerDigest));
    }

    [Theory]
    [InlineData("file:///etc/passwd", "file: URL, which is not followed")]
    [InlineData("ftp://127.0.0.1/layer", "ftp: URL, which is not followed")]
    public async Task Pull_ContentLocationOfAnotherScheme_IsRefused(string location, string expected)
    {
        await using FaultServer server = await ServeAsync(Text(TrueList(), location));

        Exception error = await PullExpectingFailureAsync(server);

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.CountRequests("/blobs/" + LayerDigest));
    }

    [Fact]
    public void ContentLocation_FromHttpsDownToHttp_IsRefused()
    {
        var error = Assert.Throws<RegistryProtocolException>(() => RemoteRegistry.ResolveContentLocation(
            new Uri("http://storage.example/layer"), new Uri("https://registry.example/v2/library/m/chunksums/x"), LayerDigest));

        Assert.Contains("from https down to http", error.Message, StringComparison.Ordinal);
        Assert.Equal(
            new Uri("https://registry.example/storage/layer"),
            RemoteRegistry.ResolveContentLocation(new Uri("/storage/layer", UriKind.Relative), new Uri("https://registry.example/v2/library/m/chunksums/x"), LayerDigest));
    }

    [Fact]
    public async Task Pull_RelativeContentLocation_IsResolvedAgainstTheChunkSumsUrl()
    {
        await using FaultServer server = await ServeAsync(Text(TrueList(), "../../../../storage/layer"));

        PullResult result = await Puller().PullAsync([Name(server)], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(LayerSize / ChunkSize, server.CountRequests("/storage/layer"));
        Assert.Equal(0, server.CountRequests("/blobs/" + LayerDigest));
        Assert.Equal(LayerSize + s_config.Length, result.BytesFetched);
        Assert.Equal(_layer, await File.ReadAllBytesAsync(_target.GetBlobPath(LayerDigest), TestContext.Current.CancellationToken));
        StoreAuditor.AssertConsistent(_target);
    }

    [Fact]
    public async Task Pull_ChunkSums404_FallsBackToOwnRanges()
    {
        await using FaultServer server = await ServeAsync(chunkSums: null);

        await Puller(new PullOptions { RangeSize = 256 << 10, ParallelThreshold = 0 }).PullAsync([Name(server)], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(1, server.CountRequests("/chunksums/"));
        Assert.Equal(4, server.CountRequests("/blobs/" + LayerDigest));
        Assert.Equal(_layer, await File.ReadAllBytesAsync(_target.GetBlobPath(LayerDigest), TestContext.Current.CancellationToken));
        Assert.Single(_target.ListManifests());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Pull_OneChunkCorruptOnce_OnlyItIsFetchedAgainAndTheBlobIsRight(bool onArrival)
    {
        int corrupted = 0;
        byte[] bad = (byte[])_layer.Clone();
        bad[(5 * ChunkSize) + 17] ^= 0x01;
        await using FaultServer server = await FaultServerFor(context =>
            context.Request.Headers.Range.ToString() == $"bytes={5 * ChunkSize}-{(6 * ChunkSize) - 1}" && Interlocked.Exchange(ref corrupted, 1) == 0 ? bad : _layer);

        PullResult result = await Puller(new PullOptions { VerifyChunksOnArrival = onArrival }).PullAsync([Name(server)], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(LayerSize / ChunkSize + 1, server.CountRequests("/blobs/" + LayerDigest));
        Assert.Equal(2, server.Requests.Count(r => r.Range == $"bytes={5 * ChunkSize}-{(6 * ChunkSize) - 1}"));
        Assert.Equal(LayerSize + s_config.Length, result.BytesFetched); // the discarded copy is not counted as kept
        Assert.Equal(_layer, await File.ReadAllBytesAsync(_target.GetBlobPath(LayerDigest), TestContext.Current.CancellationToken));
        StoreAuditor.AssertConsistent(_target);
    }

    [Fact]
    public async Task Pull_FirstChunkCorruptWhileTheBlobHashReadsAhead_RollsBackAndTheBlobIsRight()
    {
        // The blob's hash reads a chunk's bytes as they land, before the chunk's digest is known. Chunk 0 arrives
        // corrupt in its first half, which sits in place for a while (read by the blob's hash), then fails its digest:
        // the blob's hash must go back to the chunk's start, or the blob would fail its whole digest.
        byte[] bad = (byte[])_layer.Clone();
        bad[100] ^= 0x01;
        int first = 0;
        await using FaultServer server = await ServeAsync(Text(TrueList()), null, async context =>
        {
            if (context.Request.Headers.Range.ToString() != $"bytes=0-{ChunkSize - 1}" || Interlocked.Exchange(ref first, 1) != 0)
            {
                return false;
            }

            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes 0-{ChunkSize - 1}/{LayerSize}";
            context.Response.ContentLength = ChunkSize;
            await context.Response.Body.WriteAsync(bad.AsMemory(0, ChunkSize / 2));
            await context.Response.Body.FlushAsync();
            await Task.Delay(400);
            await context.Response.Body.WriteAsync(bad.AsMemory(ChunkSize / 2, ChunkSize / 2));
            return true;
        });

        await Puller(new PullOptions { BufferSize = 16 << 10 }).PullAsync([Name(server)], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(2, server.Requests.Count(r => r.Range == $"bytes=0-{ChunkSize - 1}"));
        Assert.Equal(_layer, await File.ReadAllBytesAsync(_target.GetBlobPath(LayerDigest), TestContext.Current.CancellationToken));
        StoreAuditor.AssertConsistent(_target);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Pull_OneChunkAlwaysCorrupt_NamesBlobRangeExpectedAndActual(bool onArrival)
    {
        byte[] bad = (byte[])_layer.Clone();
        bad[(3 * ChunkSize) + 5] ^= 0x80;
        await using FaultServer server = await ServeAsync(Text(TrueList()), bad);

        Exception error = await PullExpectingFailureAsync(server, new PullOptions { VerifyChunksOnArrival = onArrival });

        Assert.IsType<DigestMismatchException>(error);
        string range = $"{3 * ChunkSize}-{(4 * ChunkSize) - 1}";
        Assert.Contains($"blob {LayerDigest} bytes {range}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"expected {Digest.Compute(_layer.AsSpan(3 * ChunkSize, ChunkSize))}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"got {Digest.Compute(bad.AsSpan(3 * ChunkSize, ChunkSize))}", error.Message, StringComparison.Ordinal);
        // Checked at the end, the chunk is found wrong once the whole digest fails, then checked on arrival.
        Assert.Equal(ChunkFetcher.MaxDigestAttempts + (onArrival ? 0 : 1), server.Requests.Count(r => r.Range == $"bytes={range}"));
        Assert.Equal(1, server.Requests.Count(r => r.Range == $"bytes=0-{ChunkSize - 1}"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Pull_ChunkSumsOfOtherBytes_AllChunksMatchButTheBlobIsNeverCommitted(bool onArrival)
    {
        // The registry serves other bytes under the layer's digest, with chunksums true to those bytes.
        byte[] other = new byte[LayerSize];
        SampleDataStream.Fill(99, 0, other);
        var list = new StringBuilder();
        for (int start = 0; start < LayerSize; start += ChunkSize)
        {
            list.Append(CultureInfo.InvariantCulture, $"{Digest.Compute(other.AsSpan(start, ChunkSize))} {start}-{start + ChunkSize - 1}\n");
        }

        await using FaultServer server = await ServeAsync(Text(list.ToString()), other);

        Exception error = await PullExpectingFailureAsync(server, new PullOptions { VerifyChunksOnArrival = onArrival });

        Assert.IsType<DigestMismatchException>(error);
        Assert.Contains("every chunk matched the registry's chunksums", error.Message, StringComparison.Ordinal);
        Assert.Empty(_target.GetPartialFiles(LayerDigest));
        Assert.Equal(LayerSize / ChunkSize, server.CountRequests("/blobs/" + LayerDigest)); // nothing fetched twice
    }

    [Fact]
    public async Task Pull_ConnectionCutMidChunk_ContinuesFromTheByteWhereItStopped()
    {
        int cut = 0;
        await using FaultServer server = await ServeAsync(Text(TrueList(ChunkSize * 4)), null);
        await using FaultServer cutting = await FaultServer.StartAsync(async context =>
        {
            // Proxy-like: the first request for chunk 1 sends half its bytes and breaks the connection.
            string range = context.Request.Headers.Range.ToString();
            if (context.Request.Path.Value!.Contains("/blobs/" + LayerDigest, StringComparison.Ordinal)
                && range == $"bytes={4 * ChunkSize}-{(8 * ChunkSize) - 1}" && Interlocked.Exchange(ref cut, 1) == 0)
            {
                context.Response.StatusCode = 206;
                context.Response.Headers.ContentRange = $"bytes {4 * ChunkSize}-{(8 * ChunkSize) - 1}/{LayerSize}";
                context.Response.ContentLength = 4 * ChunkSize;
                await context.Response.Body.WriteAsync(_layer.AsMemory(4 * ChunkSize, 2 * ChunkSize));
                await context.Response.Body.FlushAsync();
                await Task.Delay(300); // let the client read what was sent: a reset drops unread bytes
                context.Abort();
                return;
            }

            using var client = new HttpClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.BaseAddress, context.Request.Path.Value!.TrimStart('/')));
            if (range.Length > 0)
            {
                request.Headers.TryAddWithoutValidation("Range", range);
            }

            using HttpResponseMessage response = await client.SendAsync(request);
            context.Response.StatusCode = (int)response.StatusCode;
            if (response.Content.Headers.TryGetValues("Content-Range", out IEnumerable<string>? values))
            {
                context.Response.Headers.ContentRange = values.First();
            }

            await context.Response.Body.WriteAsync(await response.Content.ReadAsByteArrayAsync());
        });

        await Puller().PullAsync([Name(cutting)], cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(cutting.Requests.Any(r => r.Range == $"bytes={6 * ChunkSize}-{(8 * ChunkSize) - 1}"), string.Join(" ", cutting.Requests.Select(r => r.Range)));
        Assert.Equal(_layer, await File.ReadAllBytesAsync(_target.GetBlobPath(LayerDigest), TestContext.Current.CancellationToken));
        StoreAuditor.AssertConsistent(_target);
    }

    [Theory]
    [InlineData(true, null)] // every read held in memory for the blob's hash
    [InlineData(true, 2)] // two receive buffers for four streams: most bytes are read back from the file
    [InlineData(false, null)] // none held: every byte read back from the file
    public async Task Pull_WithHeldOrReadBackBytes_AChunkCutAtAnOddByteThenFoundCorrupt_StoresTheBlob(bool hold, int? buffers)
    {
        // Chunk 2's first answer has a flipped byte and breaks after an odd number of bytes; the rest comes from there
        // (unaligned for direct writes), the chunk fails its digest, and a new attempt starts at its first byte. The
        // first attempt's bytes held at offsets the second does not reuse must not reach the blob's hash.
        const int Odd = 10_007;
        int cut = 0;
        string chunk2 = $"bytes={2 * ChunkSize}-{(3 * ChunkSize) - 1}";
        await using FaultServer server = await ServeAsync(Text(TrueList()), null, async context =>
        {
            if (context.Request.Headers.Range.ToString() != chunk2 || Interlocked.Exchange(ref cut, 1) != 0)
            {
                return false;
            }

            byte[] bytes = _layer.AsSpan(2 * ChunkSize, Odd).ToArray();
            bytes[5] ^= 0x40;
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {2 * ChunkSize}-{(3 * ChunkSize) - 1}/{LayerSize}";
            context.Response.ContentLength = ChunkSize;
            await context.Response.Body.WriteAsync(bytes);
            await context.Response.Body.FlushAsync();
            await Task.Delay(300); // let the client read what was sent: a reset drops unread bytes
            context.Abort();
            return true;
        });

        await Puller(new PullOptions { BufferSize = 16 << 10, Concurrency = 4, HoldReceivedBytes = hold, ReceiveBufferBytes = buffers * (16 << 10) })
            .PullAsync([Name(server)], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Single(server.Requests, r => r.Range == $"bytes={(2 * ChunkSize) + Odd}-{(3 * ChunkSize) - 1}");
        Assert.Equal(2, server.Requests.Count(r => r.Range == chunk2));
        Assert.Equal(_layer, await File.ReadAllBytesAsync(_target.GetBlobPath(LayerDigest), TestContext.Current.CancellationToken));
        StoreAuditor.AssertConsistent(_target);
    }

    /// <summary>A registry with the true list, whose blob bytes per request come from <paramref name="content"/>.</summary>
    private Task<FaultServer> FaultServerFor(Func<HttpContext, byte[]> content)
    {
        string list = TrueList();
        return FaultServer.StartAsync(async context =>
        {
            string path = context.Request.Path.Value!;
            if (path.Contains("/manifests/", StringComparison.Ordinal))
            {
                await context.Response.Body.WriteAsync(Manifest);
            }
            else if (path.Contains("/chunksums/", StringComparison.Ordinal))
            {
                await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes(list));
            }
            else if (path.EndsWith(LayerDigest.ToString(), StringComparison.Ordinal))
            {
                await FaultServer.ServeRangeAsync(context, content(context));
            }
            else
            {
                await context.Response.Body.WriteAsync(s_config);
            }
        });
    }
}
