using System.Net;
using System.Net.Http.Headers;
using RegistryClient.Content;
using RegistryClient.Store;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>Pushes blobs and manifests to a registry through the distribution API (monolithic POST + PUT uploads).</summary>
public sealed class RegistryPusher : IDisposable
{
    private readonly HttpClient _http;

    public RegistryPusher(Uri baseAddress, AuthenticationHeaderValue? authorization = null)
    {
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(5) };
        _http.DefaultRequestHeaders.Authorization = authorization;
    }

    /// <summary>Pushes every blob of <paramref name="manifestBytes"/> from <paramref name="source"/>, then the manifest.</summary>
    public async Task PushModelAsync(ModelStore source, string repository, string tag, byte[] manifestBytes, string mediaType = MediaTypes.DockerManifest)
    {
        Manifest manifest = Manifest.Parse(manifestBytes);
        foreach (Descriptor blob in manifest.Blobs)
        {
            await PushBlobAsync(repository, source.GetBlobPath(blob.Digest), blob.Digest);
        }

        await PushManifestAsync(repository, tag, manifestBytes, mediaType);
    }

    public async Task PushBlobAsync(string repository, string path, Digest digest)
    {
        using HttpResponseMessage start = await _http.PostAsync($"v2/{repository}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        Uri location = start.Headers.Location!;
        if (!location.IsAbsoluteUri)
        {
            location = new Uri(_http.BaseAddress!, location);
        }

        string separator = location.Query.Length > 0 ? "&" : "?";
        await using FileStream file = File.OpenRead(path);
        using var content = new StreamContent(file, 1 << 20);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using HttpResponseMessage put = await _http.PutAsync(new Uri(location + separator + "digest=" + digest), content);
        Assert.True(put.StatusCode == HttpStatusCode.Created, $"blob upload answered {(int)put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
    }

    public async Task PushManifestAsync(string repository, string tag, byte[] bytes, string mediaType)
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using HttpResponseMessage put = await _http.PutAsync($"v2/{repository}/manifests/{tag}", content);
        Assert.True(put.StatusCode == HttpStatusCode.Created, $"manifest upload answered {(int)put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
    }

    public void Dispose() => _http.Dispose();
}
