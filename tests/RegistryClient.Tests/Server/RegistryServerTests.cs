using System.Net;
using System.Text.Json;
using RegistryClient.Content;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Server;

/// <summary>The project's server against the distribution-spec pull cases: ranges, HEAD, 404/400/405, tags.</summary>
public sealed class RegistryServerTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private readonly HttpClient _http = new();
    private OwnRegistry _server = null!;
    private Descriptor _blob = null!;
    private byte[] _manifest = null!;

    public async ValueTask InitializeAsync()
    {
        var store = new ModelStore(_temp.Path);
        _manifest = await SampleModel.CreateAsync(store, RegistryClient.Names.ModelName.Parse("registry.ollama.ai/library/m:v1"), [2048], seed: 4);
        await SampleModel.CreateAsync(store, RegistryClient.Names.ModelName.Parse("other.host/library/m:v2"), [10], seed: 4);
        await SampleModel.CreateAsync(store, RegistryClient.Names.ModelName.Parse("registry.ollama.ai/library/m:v0"), [10], seed: 4);
        _blob = Manifest.Parse(_manifest).Layers[0];
        _server = await OwnRegistry.StartAsync(store);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _http.Dispose();
        _temp.Dispose();
    }

    private async Task<HttpResponseMessage> SendAsync(string path, string? range = null, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, new Uri(_server.BaseAddress, path));
        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }

        return await _http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("bytes=500-1499", 206, "bytes 500-1499/2048", 1000)]
    [InlineData("bytes=500-", 206, "bytes 500-2047/2048", 1548)]
    [InlineData("bytes=-500", 206, "bytes 1548-2047/2048", 500)]
    [InlineData("bytes=2000-5000", 206, "bytes 2000-2047/2048", 48)]
    [InlineData("bytes=500-0", 416, "bytes */2048", -1)]
    [InlineData("bytes=5000-10000", 416, "bytes */2048", -1)]
    [InlineData("bytes=0-1,5-6", 200, null, 2048)]
    [InlineData("items=0-1", 200, null, 2048)]
    [InlineData("bytes=abc", 200, null, 2048)]
    public async Task Blob_Range_FollowsTheConformanceCases(string range, int status, string? contentRange, long length)
    {
        using HttpResponseMessage response = await SendAsync($"v2/library/m/blobs/{_blob.Digest}", range);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(contentRange, response.Content.Headers.ContentRange?.ToString());
        if (length >= 0)
        {
            byte[] body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            Assert.Equal(length, body.Length);
            byte[] expected = new byte[2048];
            SampleDataStream.Fill(4, 0, expected);
            long start = response.Content.Headers.ContentRange?.From ?? 0;
            Assert.Equal(expected.AsSpan((int)start, body.Length).ToArray(), body);
        }
    }

    [Fact]
    public async Task Head_GivesLengthAndDigestWithoutABody()
    {
        using HttpResponseMessage blob = await SendAsync($"v2/library/m/blobs/{_blob.Digest}", method: HttpMethod.Head);
        Assert.Equal(HttpStatusCode.OK, blob.StatusCode);
        Assert.Equal(2048, blob.Content.Headers.ContentLength);
        Assert.Equal(_blob.Digest.ToString(), blob.Headers.GetValues("Docker-Content-Digest").Single());

        using HttpResponseMessage manifest = await SendAsync("v2/library/m/manifests/v1", method: HttpMethod.Head);
        Assert.Equal(_manifest.Length, manifest.Content.Headers.ContentLength);
        Assert.Equal(Digest.Compute(_manifest).ToString(), manifest.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Empty(await manifest.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Manifest_ByTagAndByDigest_AreTheStoredBytes()
    {
        using HttpResponseMessage byTag = await SendAsync("v2/library/m/manifests/v1");
        Assert.Equal(_manifest, await byTag.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(MediaTypes.DockerManifest, byTag.Content.Headers.ContentType?.MediaType);

        using HttpResponseMessage byDigest = await SendAsync($"v2/library/m/manifests/{Digest.Compute(_manifest)}");
        Assert.Equal(_manifest, await byDigest.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("v2/library/m/blobs/sha256:../../etc/passwd", 404, "NAME_UNKNOWN")] // the client removes the dot segments first
    [InlineData("v2/library/m/blobs/sha257:abc", 400, "DIGEST_INVALID")]
    [InlineData("v2/library/m/blobs/sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 400, "DIGEST_INVALID")]
    [InlineData("v2/library/m/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 404, "BLOB_UNKNOWN")]
    [InlineData("v2/library/m/manifests/missing", 404, "MANIFEST_UNKNOWN")]
    [InlineData("v2/library/..%2f..%2fetc/manifests/v1", 400, "NAME_INVALID")]
    [InlineData("v2/.hidden/m/manifests/v1", 400, "NAME_INVALID")]
    [InlineData("v2/library/m/manifests/..", 404, "NOT_FOUND")]
    [InlineData("v2/library/m/manifests/-x", 400, "TAG_INVALID")]
    public async Task BadPaths_GetRegistryErrors(string path, int status, string code)
    {
        using HttpResponseMessage response = await SendAsync(path);

        Assert.Equal(status, (int)response.StatusCode);
        using JsonDocument body = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(code, body.RootElement.GetProperty("errors")[0].GetProperty("code").GetString());
    }

    /// <summary>The referrers API: an empty OCI index for a manifest the store holds (it holds no artifacts), 404 for another.</summary>
    [Fact]
    public async Task Referrers_OfAHeldManifest_AreAnEmptyIndex_AndUnknownOnesAre404()
    {
        Digest held = Digest.Compute(_manifest);
        using HttpResponseMessage response = await SendAsync($"/v2/library/m/referrers/{held}?artifactType={Uri.EscapeDataString(ChunkIndexArtifact.ArtifactType)}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(MediaTypes.OciIndex, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("artifactType", Assert.Single(response.Headers.GetValues("OCI-Filters-Applied")));
        using JsonDocument index = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, index.RootElement.GetProperty("manifests").GetArrayLength());

        using HttpResponseMessage unknown = await SendAsync($"/v2/library/m/referrers/{Digest.Compute("nothing"u8)}");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using HttpResponseMessage invalid = await SendAsync("/v2/library/m/referrers/latest");
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
    }

    [Fact]
    public async Task Writes_AreRefusedWith405()
    {
        using HttpResponseMessage response = await SendAsync("v2/library/m/blobs/uploads/", method: HttpMethod.Post);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    [Fact]
    public async Task Tags_ListThePreferredHostsTags_WithPagination()
    {
        Assert.Equal(["v0", "v1"], await TagsAsync("v2/library/m/tags/list"));
        Assert.Empty(await TagsAsync("v2/library/m/tags/list?n=0"));

        using HttpResponseMessage page = await SendAsync("v2/library/m/tags/list?n=1");
        Assert.Equal("</v2/library/m/tags/list?n=1&last=v0>; rel=\"next\"", page.Headers.GetValues("Link").Single());
        Assert.Equal(["v1"], await TagsAsync("v2/library/m/tags/list?n=1&last=v0"));
    }

    private async Task<string[]> TagsAsync(string path)
    {
        using HttpResponseMessage response = await SendAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using JsonDocument tags = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        return tags.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToArray();
    }

    [Fact]
    public async Task AccessLog_HasOneCommonLogFormatLinePerRequest()
    {
        using HttpResponseMessage response = await SendAsync($"v2/library/m/blobs/{_blob.Digest}", "bytes=0-99");
        await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        string line = (await _server.SettledLogLinesAsync()).Single(l => l.Contains(_blob.Digest.ToString(), StringComparison.Ordinal));
        Assert.Matches(@"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] ""GET /v2/library/m/blobs/sha256:[0-9a-f]{64} HTTP/1\.1"" 206 100$", line);
    }
}
