using System.Net;
using System.Net.Http.Headers;
using System.Text;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Server;

/// <summary>
/// <c>regc serve --allow-push</c>: pushes from regc and reads by skopeo, uploads whose offset is what arrived (so a cut
/// in the middle of a chunk costs nothing), and what the server refuses: bytes that are not their digest, a chunk that
/// does not follow the session, a manifest before its blobs. Bytes are counted on the server's side.
/// </summary>
public sealed class PushReceiveTests : IAsyncLifetime
{
    private const long Chunk = 1 << 20;
    private static readonly long[] s_layers = [6L << 20, (1L << 20) + 17, 5];

    private readonly TempDirectory _temp = new();
    private readonly ModelStore _served;
    private OwnRegistry _server = null!;

    public PushReceiveTests()
    {
        _served = new ModelStore(_temp.Combine("served"));
    }

    public async ValueTask InitializeAsync() => _server = await OwnRegistry.StartAsync(_served, allowPush: true);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _temp.Dispose();
    }

    private static readonly RegistryOptions Plain = Registries.FastRetries with { Insecure = true };

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private async Task<(ModelStore Store, ModelName Name, byte[] Manifest)> ModelAsync(string host)
    {
        var name = ModelName.Parse($"{host}/team/pushed:v1");
        (ModelStore store, byte[] manifest) = await TestModels.CreateOciAsync(_temp.Combine($"source-{Guid.NewGuid():N}"), name, s_layers, 3);
        return (store, name, manifest);
    }

    private static long BlobBytes(byte[] manifest) => Manifest.Parse(manifest).Blobs.Sum(b => b.Size);

    [Fact]
    public async Task Push_KeepsTheModel_SkopeoReadsItBack_AndASecondPushSendsNoBlob()
    {
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(_server.HostAndPort);

        PushResult result = await new ModelPusher(Registries.Create(Plain), store, new PushOptions { ChunkSize = Chunk }).PushAsync(name, cancellationToken: Token);

        Assert.Equal(4, result.BlobsUploaded);
        Assert.Equal(BlobBytes(manifest), _server.BytesReceived); // every byte once
        StoreAuditor.AssertConsistent(_served);
        await SkopeoReads.AssertModelAsync(name, manifest, store, _temp.Combine("skopeo-copy"));

        PushResult again = await new ModelPusher(Registries.Create(Plain), store).PushAsync(name, cancellationToken: Token);
        Assert.Equal(0, again.BlobsUploaded);
        Assert.Equal(4, again.BlobsPresent);
        Assert.Equal(BlobBytes(manifest), _server.BytesReceived);
        Assert.Empty(TestModels.Files(ReceivedUpload.Directory(_served)));
    }

    /// <summary>Requests acknowledged quickly double the next ones up to the largest size allowed; a fixed size stays.</summary>
    [Theory]
    [InlineData(4L << 20, 3)] // 1 MiB, then 2 MiB, then the rest of the 6 MiB layer (3 MiB) with the closing PUT; the 1 MiB layer in one PATCH at most
    [InlineData(1L << 20, 6)] // 1 MiB each: 5 for the 6 MiB layer, 1 for the 1 MiB one
    public async Task QuickRequests_GrowUpToTheLargestSize(long largest, int patches)
    {
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(_server.HostAndPort);

        await new ModelPusher(Registries.Create(Plain), store, new PushOptions { ChunkSize = Chunk, MaxChunkSize = largest, Concurrency = 1 }).PushAsync(name, cancellationToken: Token);

        int sent = (await _server.SettledLogLinesAsync()).Count(l => l.Contains("\"PATCH ", StringComparison.Ordinal));
        Assert.InRange(sent, 1, patches);
        if (largest == Chunk)
        {
            Assert.Equal(patches, sent);
        }

        Assert.Equal(BlobBytes(manifest), _server.BytesReceived);
    }

    [Fact]
    public async Task ReadOnlyServe_RefusesThePushWithOneLine()
    {
        await using OwnRegistry readOnly = await OwnRegistry.StartAsync(new ModelStore(_temp.Combine("read-only")));
        (ModelStore store, ModelName name, _) = await ModelAsync(readOnly.HostAndPort);

        RegistryResponseException refused = await Assert.ThrowsAsync<RegistryResponseException>(
            () => new ModelPusher(Registries.Create(Plain), store).PushAsync(name, cancellationToken: Token));

        Assert.Contains("read-only", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', refused.Message);
    }

    /// <summary>
    /// A link reset in the middle of a chunk's body: the server keeps what arrived, the client asks where the session
    /// stands and sends only the rest, in the same session. The server receives every byte of the model exactly once.
    /// </summary>
    [Fact]
    public async Task CutInTheMiddleOfAChunk_ContinuesTheSameSession_AndNoByteArrivesTwice()
    {
        await using var link = new CountingLink(_server.HostAndPort, cutAfter: (7L << 20) / 2);
        (ModelStore store, ModelName name, byte[] manifest) = await ModelAsync(link.HostAndPort);

        PushResult result = await new ModelPusher(Registries.Create(Plain), store, new PushOptions { ChunkSize = Chunk, Concurrency = 1 }).PushAsync(name, cancellationToken: Token);

        Assert.True(link.Cut);
        Assert.Equal(4, result.BlobsUploaded);
        Assert.Equal(BlobBytes(manifest), _server.BytesReceived);
        StoreAuditor.AssertConsistent(_served);
        Assert.Equal(manifest, await File.ReadAllBytesAsync(_served.FindManifest(ModelName.Parse($"{ModelName.DefaultHost}/team/pushed:v1")).Path, Token));
    }

    [Fact]
    public async Task Uploads_AreCheckedAtEveryStep_AndSurviveARestartOfTheServer()
    {
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        byte[] blob = new byte[3000];
        new Random(5).NextBytes(blob);
        Digest digest = Digest.Compute(blob);

        // A session, its first 1000 bytes, and a chunk that does not follow them.
        using HttpResponseMessage started = await http.PostAsync("/v2/team/m/blobs/uploads/", null, Token);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        Uri location = started.Headers.Location!;
        Assert.Equal(HttpStatusCode.Accepted, (await PatchAsync(http, location, blob, 0, 1000)).StatusCode);
        using HttpResponseMessage gap = await PatchAsync(http, location, blob, 1500, 500);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, gap.StatusCode);
        Assert.Equal("0-999", gap.Headers.GetValues("Range").Single());

        // The server stops and a new one starts on the same store: the session stands where it stood.
        await _server.DisposeAsync();
        _server = await OwnRegistry.StartAsync(_served, allowPush: true);
        using var again = new HttpClient { BaseAddress = _server.BaseAddress };
        using HttpResponseMessage status = await again.GetAsync(location, Token);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        Assert.Equal("0-999", status.Headers.GetValues("Range").Single());

        // A closing PUT naming another digest: refused, nothing in blobs/, the session gone.
        Digest wrong = Digest.Compute(blob.AsSpan(0, 2999));
        using HttpResponseMessage refused = await again.PutAsync($"{location}?digest={wrong}", Body(blob, 1000, 2000), Token);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("DIGEST_INVALID", await refused.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        Assert.Null(_served.GetBlobSize(wrong));
        Assert.Null(_served.GetBlobSize(digest));
        Assert.Equal(HttpStatusCode.NotFound, (await again.GetAsync(location, Token)).StatusCode);

        // A manifest before its blob is refused; the blob in one POST, then the manifest is kept.
        byte[] config = "{}"u8.ToArray();
        byte[] manifest = Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{Digest.Compute(config)}}","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{digest}}","size":3000}]}""");
        using HttpResponseMessage early = await PutManifestAsync(again, "/v2/team/m/manifests/v1", manifest);
        Assert.Equal(HttpStatusCode.BadRequest, early.StatusCode);
        Assert.Contains("MANIFEST_BLOB_UNKNOWN", await early.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await again.GetAsync("/v2/team/m/manifests/v1", Token)).StatusCode);
        foreach (byte[] content in new[] { blob, config })
        {
            using HttpResponseMessage whole = await again.PostAsync($"/v2/team/m/blobs/uploads/?digest={Digest.Compute(content)}", Body(content, 0, content.Length), Token);
            Assert.Equal(HttpStatusCode.Created, whole.StatusCode);
        }

        using HttpResponseMessage kept = await PutManifestAsync(again, "/v2/team/m/manifests/v1", manifest);
        Assert.Equal(HttpStatusCode.Created, kept.StatusCode);
        Assert.Equal(Digest.Compute(manifest).ToString(), kept.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(manifest, await again.GetByteArrayAsync("/v2/team/m/manifests/v1", Token));
        Assert.Equal(blob, await again.GetByteArrayAsync($"/v2/team/m/blobs/{digest}", Token));

        // A mount of a blob the store holds is a lookup.
        using HttpResponseMessage mounted = await again.PostAsync($"/v2/other/m/blobs/uploads/?mount={digest}&from=team/m", null, Token);
        Assert.Equal(HttpStatusCode.Created, mounted.StatusCode);
        StoreAuditor.AssertConsistent(_served);
        Assert.Empty(TestModels.Files(ReceivedUpload.Directory(_served))); // the 416'd and refused sessions left nothing
    }

    /// <summary>
    /// Two servers on one store (two replicas): an upload started on one goes on through the other. Each takes what the
    /// other wrote (a chunk that does not follow it is refused), and the blob that enters the store is the bytes sent.
    /// </summary>
    [Fact]
    public async Task TwoServersOnOneStore_ShareAnUpload_AndCommitOnlyTheBytesSent()
    {
        await using OwnRegistry other = await OwnRegistry.StartAsync(_served, allowPush: true);
        using var a = new HttpClient { BaseAddress = _server.BaseAddress };
        using var b = new HttpClient { BaseAddress = other.BaseAddress };
        byte[] blob = new byte[3 << 20];
        new Random(9).NextBytes(blob);
        Digest digest = Digest.Compute(blob);

        using HttpResponseMessage started = await a.PostAsync("/v2/team/m/blobs/uploads/", null, Token);
        Uri location = started.Headers.Location!;
        Assert.Equal(HttpStatusCode.Accepted, (await PatchAsync(a, location, blob, 0, 1 << 20)).StatusCode);
        using HttpResponseMessage stale = await PatchAsync(b, location, blob, 0, 1 << 20); // B sees A's bytes
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, stale.StatusCode);
        Assert.Equal($"0-{(1 << 20) - 1}", stale.Headers.GetValues("Range").Single());
        Assert.Equal(HttpStatusCode.Accepted, (await PatchAsync(b, location, blob, 1 << 20, 1 << 20)).StatusCode);

        // A finishes: its own running hash no longer covers the file, so the bytes are hashed from the file.
        using HttpResponseMessage done = await a.PutAsync($"{location}?digest={digest}", Body(blob, 2 << 20, 1 << 20), Token);
        Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        Assert.Equal(blob, await File.ReadAllBytesAsync(_served.GetBlobPath(digest), Token));
        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync(location, Token)).StatusCode);
        StoreAuditor.AssertConsistent(_served);
    }

    private static ByteArrayContent Body(byte[] bytes, int offset, int count)
    {
        var content = new ByteArrayContent(bytes, offset, count);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    private static async Task<HttpResponseMessage> PatchAsync(HttpClient http, Uri location, byte[] bytes, int offset, int count)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = Body(bytes, offset, count) };
        request.Content.Headers.TryAddWithoutValidation("Content-Range", $"{offset}-{offset + count - 1}");
        return await http.SendAsync(request, Token);
    }

    private static Task<HttpResponseMessage> PutManifestAsync(HttpClient http, string path, byte[] manifest)
    {
        var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.OciManifest);
        return http.PutAsync(path, content, Token);
    }
}
