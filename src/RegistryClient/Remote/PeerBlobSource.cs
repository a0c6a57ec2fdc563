using System.Net;
using System.Net.Http.Headers;
using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Remote;

/// <summary>
/// One blob's bytes from a peer: another machine's <c>regc serve</c>, or any server that answers Range requests on
/// <c>/v2/&lt;repository&gt;/blobs/&lt;digest&gt;</c>. A peer is not trusted: its bytes count only once they hash to
/// the chunk digests the origin gave. Its requests go through a client of their own that carries no credentials of any
/// kind (no Authorization, no signed token requests) and follows no redirect.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class PeerBlobSource : IBlobSource
{
    private readonly HttpClient _http;
    private readonly Uri _uri;

    /// <summary>Reads <paramref name="blob"/> of <paramref name="repository"/> from the peer at <paramref name="peer"/>.</summary>
    public PeerBlobSource(HttpClient http, Uri peer, ModelName repository, Descriptor blob)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(blob);
        _http = http;
        Peer = peer;
        Blob = blob;
        _uri = new Uri(peer, $"v2/{repository.Repository}/blobs/{blob.Digest}");
    }

    /// <summary>The peer's base address.</summary>
    public Uri Peer { get; }

    /// <inheritdoc/>
    public Descriptor Blob { get; }

    /// <inheritdoc/>
    public string Location => RemoteRegistry.Redact(_uri);

    /// <inheritdoc/>
    /// <exception cref="RegistryProtocolException">The peer answered anything but the range asked for.</exception>
    public async Task<Stream> OpenRangeAsync(long start, long end, CancellationToken cancellationToken = default)
    {
        if (start < 0 || end < start || end >= Blob.Size)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"bytes {start}-{end} are not a range of the {Blob.Size}-byte blob");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, _uri);
        request.Headers.Range = new RangeHeaderValue(start, end);
        HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        try
        {
            if (response.StatusCode is not (HttpStatusCode.PartialContent or HttpStatusCode.OK))
            {
                throw new RegistryProtocolException($"the peer {Location} answered {(int)response.StatusCode} for bytes {start}-{end}", isTransient: false);
            }

            RegistryBlobSource.CheckRange(Blob, response, start, end);
            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return new ResponseStream(response, body);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public Task<Stream> OpenAsync(CancellationToken cancellationToken = default) => OpenRangeAsync(0, Blob.Size - 1, cancellationToken);
}
