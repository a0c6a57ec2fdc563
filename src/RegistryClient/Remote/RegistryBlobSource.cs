using System.Net;
using System.Net.Http.Headers;
using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Remote;

/// <summary>
/// A blob in a registry repository as an <see cref="IBlobSource"/>. Ranges go to the blob's URL, or to a location
/// known to serve it: the chunksums' <c>Content-Location</c>, or the storage URL the registry first redirected to,
/// which later ranges reuse so that one redirect serves the whole blob. A remembered location that answers 4xx (a
/// signed URL that expired) is dropped and the registry asked again. Credentials never follow a redirect off the
/// registry's origin (see <see cref="RemoteRegistry"/>).
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class RegistryBlobSource : IBlobSource
{
    private readonly RemoteRegistry _registry;
    private readonly ModelName _repository;
    private readonly Uri _blobUri;
    private Uri? _location;

    internal RegistryBlobSource(RemoteRegistry registry, ModelName repository, Descriptor blob, Uri? location)
    {
        _registry = registry;
        _repository = repository;
        Blob = blob;
        _blobUri = registry.GetBlobUri(repository, blob.Digest);
        _location = location;
    }

    /// <inheritdoc/>
    public Descriptor Blob { get; }

    /// <inheritdoc/>
    public string Location => RemoteRegistry.Redact(Volatile.Read(ref _location) ?? _blobUri);

    /// <inheritdoc/>
    public Task<Stream> OpenRangeAsync(long start, long end, CancellationToken cancellationToken = default)
    {
        if (start < 0 || end < start || end >= Blob.Size)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"bytes {start}-{end} are not a range of the {Blob.Size}-byte blob");
        }

        return OpenAsync(start, end, Volatile.Read(ref _location), cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Always asks the registry's own blob URL, without a <c>Range</c> header.</remarks>
    public Task<Stream> OpenAsync(CancellationToken cancellationToken = default) => OpenAsync(0, Blob.Size - 1, cached: null, cancellationToken, ranged: false);

    private async Task<Stream> OpenAsync(long start, long end, Uri? cached, CancellationToken cancellationToken, bool ranged = true)
    {
        Uri uri = cached ?? _blobUri;
        HttpResponseMessage response = await _registry.SendAsync(
            HttpMethod.Get, uri, ranged ? request => request.Headers.Range = new RangeHeaderValue(start, end) : null, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!response.IsSuccessStatusCode)
            {
                if (cached is not null && (int)response.StatusCode is >= 400 and < 500)
                {
                    // A signed storage URL can expire; go back to the registry for a fresh one.
                    Interlocked.CompareExchange(ref _location, null, cached);
                    throw new RegistryProtocolException($"{RemoteRegistry.Redact(cached)} answered {(int)response.StatusCode} for {Blob.Digest.Short}; asking the registry again", isTransient: true);
                }

                throw await _registry.CreateErrorAsync(response, _repository, cancellationToken).ConfigureAwait(false);
            }

            CheckRange(response, start, end);
            if (ranged && cached is null && response.RequestMessage?.RequestUri is { } final && final != uri)
            {
                Interlocked.CompareExchange(ref _location, final, null);
            }

            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return new ResponseStream(response, body);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Accepts a 206 only when its Content-Range is exactly the range asked for, and a 200 only when the range
    /// starts at 0 (its body then starts at the right byte). Refused before any byte is read.
    /// </summary>
    private void CheckRange(HttpResponseMessage response, long position, long end) => CheckRange(Blob, response, position, end);

    /// <summary>
    /// Accepts a 206 only when its Content-Range is exactly the range asked for, and a 200 only when the range
    /// starts at 0; no content encoding; a Content-Length that is the range's. Refused before any byte is read.
    /// </summary>
    internal static void CheckRange(Descriptor descriptor, HttpResponseMessage response, long position, long end)
    {
        long expected = end - position + 1;
        if (response.Content.Headers.ContentEncoding.Count > 0)
        {
            throw new RegistryProtocolException(
                $"the registry sent {descriptor.Digest.Short} with Content-Encoding {string.Join(",", response.Content.Headers.ContentEncoding)}, which blob ranges must not have",
                isTransient: false);
        }

        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            string? header = response.Content.Headers.TryGetValues("Content-Range", out IEnumerable<string>? values)
                ? string.Join(",", values)
                : null;
            if (ContentRange.TryParse(header, out long first, out long last, out long? total) && total is { } t && t != descriptor.Size)
            {
                throw new RegistryProtocolException(
                    $"the registry says {descriptor.Digest.Short} has {t} bytes (Content-Range \"{Digest.Printable(header!)}\"), but the manifest says {descriptor.Size}",
                    isTransient: false);
            }

            if (!ContentRange.TryParse(header, out first, out last, out _) || first != position || last != end)
            {
                throw new RegistryProtocolException(
                    $"asked for bytes {position}-{end} of {descriptor.Digest.Short} but the registry sent Content-Range \"{Digest.Printable(header ?? "(none)")}\"",
                    isTransient: true);
            }
        }
        else if (response.StatusCode == HttpStatusCode.OK)
        {
            if (position != 0)
            {
                throw new RangeNotSupportedException(
                    $"the registry ignored Range bytes={position}-{end} for {descriptor.Digest.Short} and sent the whole blob (200)");
            }

            expected = descriptor.Size;
        }
        else
        {
            throw new RegistryProtocolException(
                $"unexpected status {(int)response.StatusCode} for {descriptor.Digest.Short} bytes {position}-{end}", isTransient: false);
        }

        if (response.Content.Headers.ContentLength is long length && length != expected)
        {
            throw new RegistryProtocolException(
                $"expected {expected} bytes of {descriptor.Digest.Short} but Content-Length says {length}", isTransient: true);
        }
    }
}
