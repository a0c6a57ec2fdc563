using System.Diagnostics;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Server;

/// <summary>The server's chunksums endpoint: true lists for every blob, computed once, kept as a sidecar.</summary>
public sealed class ChunkSumsServerTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly HttpClient _http = new();

    public void Dispose()
    {
        _http.Dispose();
        _temp.Dispose();
    }

    private async Task<(ModelStore Store, Descriptor Layer)> CreateAsync(long size)
    {
        var store = new ModelStore(_temp.Combine("store"));
        byte[] manifest = await SampleModel.CreateAsync(store, ModelName.Parse("registry.ollama.ai/library/big:latest"), [size], seed: 12, TestContext.Current.CancellationToken);
        return (store, Manifest.Parse(manifest).Layers[0]);
    }

    private async Task<HttpResponseMessage> GetAsync(OwnRegistry server, string path, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, new Uri(server.BaseAddress, path));
        return await _http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task ChunkSums_OfA1GiBBlob_AreContiguousExactAndEveryDigestIsTrue()
    {
        (ModelStore store, Descriptor layer) = await CreateAsync(1L << 30);
        await using OwnRegistry server = await OwnRegistry.StartAsync(store);
        string path = $"v2/library/big/chunksums/{layer.Digest}";

        // Computing the list of a 1 GiB blob takes a while; other requests are answered meanwhile.
        Task<HttpResponseMessage> list = GetAsync(server, path);
        var other = Stopwatch.StartNew();
        using (HttpResponseMessage ping = await GetAsync(server, "v2/"))
        {
            Assert.Equal(200, (int)ping.StatusCode);
        }

        other.Stop();
        using HttpResponseMessage response = await list;
        Assert.False(list.IsCompleted && other.Elapsed > TimeSpan.FromSeconds(5), "a request was blocked behind the computation");
        Assert.Equal(200, (int)response.StatusCode);
        byte[] body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Uri location = RemoteRegistry.ResolveContentLocation(response.Content.Headers.ContentLocation, new Uri(server.BaseAddress, path), layer.Digest)!;
        Assert.Equal(new Uri(server.BaseAddress, $"v2/library/big/blobs/{layer.Digest}"), location);

        // Parse validates: contiguous from 0, exact cover of the size, no overlap, valid digests.
        ChunkList sums = ChunkList.Parse(body, layer.Size, layer.Digest);
        Assert.Equal(64, sums.Chunks.Count);
        Assert.All(sums.Chunks, c => Assert.Equal(16L << 20, c.Range.Length));

        // Every chunk's digest, checked against the blob's bytes.
        using var blob = File.OpenHandle(store.GetBlobPath(layer.Digest));
        byte[] buffer = new byte[16 << 20];
        foreach (ChunkSum chunk in sums.Chunks)
        {
            int read = RandomAccess.Read(blob, buffer.AsSpan(0, (int)chunk.Range.Length), chunk.Range.Start);
            Assert.Equal(chunk.Range.Length, read);
            Assert.Equal(chunk.Digest, Digest.Compute(buffer.AsSpan(0, read)));
        }
    }

    [Fact]
    public async Task ChunkSums_ConcurrentFirstRequests_ComputeOnceAndTheSidecarIsReused()
    {
        (ModelStore store, Descriptor layer) = await CreateAsync(40L << 20);
        string path = $"v2/library/big/chunksums/{layer.Digest}";
        byte[][] bodies;
        await using (OwnRegistry server = await OwnRegistry.StartAsync(store, chunkSize: 1 << 20))
        {
            HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => GetAsync(server, path)));
            bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken)));
            Assert.All(responses, r => Assert.Equal(200, (int)r.StatusCode));
            Assert.Equal(1, server.ChunkSumsComputed);
            Assert.All(bodies, b => Assert.Equal(bodies[0], b));
        }

        string sidecar = Assert.Single(Directory.GetFiles(Path.Combine(store.StateDirectory, "chunksums")));
        Assert.Equal(bodies[0], await File.ReadAllBytesAsync(sidecar, TestContext.Current.CancellationToken));
        Assert.Empty(Directory.GetFiles(store.BlobsDirectory, "*chunksums*"));

        // A restarted server reads the sidecar instead of hashing the blob again.
        await using (OwnRegistry restarted = await OwnRegistry.StartAsync(store, chunkSize: 1 << 20))
        {
            using HttpResponseMessage again = await GetAsync(restarted, path);
            Assert.Equal(bodies[0], await again.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
            Assert.Equal(0, restarted.ChunkSumsComputed);
        }

        // A damaged sidecar is not served: the list is computed afresh.
        await File.WriteAllTextAsync(sidecar, "garbage", TestContext.Current.CancellationToken);
        await using (OwnRegistry repaired = await OwnRegistry.StartAsync(store, chunkSize: 1 << 20))
        {
            using HttpResponseMessage again = await GetAsync(repaired, path);
            Assert.Equal(bodies[0], await again.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
            Assert.Equal(1, repaired.ChunkSumsComputed);
        }
    }

    [Fact]
    public async Task ChunkSums_HeadUnknownAndInvalid_AnswerLikeBlobs()
    {
        (ModelStore store, Descriptor layer) = await CreateAsync(3000);
        await using OwnRegistry server = await OwnRegistry.StartAsync(store);

        using HttpResponseMessage head = await GetAsync(server, $"v2/library/big/chunksums/{layer.Digest}", HttpMethod.Head);
        Assert.Equal(200, (int)head.StatusCode);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(Digest.CanonicalLength + " 0-2999\n".Length, head.Content.Headers.ContentLength);

        using HttpResponseMessage unknown = await GetAsync(server, $"v2/library/big/chunksums/{Digest.Compute("nope"u8)}");
        Assert.Equal(404, (int)unknown.StatusCode);
        Assert.Contains("BLOB_UNKNOWN", await unknown.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);

        using HttpResponseMessage invalid = await GetAsync(server, "v2/library/big/chunksums/sha256:..%2f..%2fetc");
        Assert.Equal(400, (int)invalid.StatusCode);
    }
}
