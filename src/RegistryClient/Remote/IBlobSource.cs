using RegistryClient.Content;

namespace RegistryClient.Remote;

/// <summary>
/// Where one blob's bytes can be read from: a registry (<see cref="RegistryBlobSource"/>), and later a mirror, a
/// cache or a peer. Resolved once per blob before any byte is fetched; a transfer reads ranges through it and never
/// builds a URL itself. Opening checks what the answer says about itself (status, <c>Content-Range</c>, length, no
/// content encoding); the bytes are the caller's to verify against the blob's digests.
/// </summary>
/// <remarks>Safe to use from several threads at once; each open is one request with its own stream.</remarks>
public interface IBlobSource
{
    /// <summary>The blob this source serves.</summary>
    Descriptor Blob { get; }

    /// <summary>Where the bytes come from, for messages and logs (never with secrets such as a signed URL's query).</summary>
    string Location { get; }

    /// <summary>
    /// Opens bytes <paramref name="start"/> to <paramref name="end"/> (inclusive) of the blob. The stream yields at most
    /// those bytes; fewer when the connection breaks (the reader's to notice).
    /// </summary>
    /// <exception cref="RangeNotSupportedException">The source sent the whole blob for a range that does not start at 0.</exception>
    /// <exception cref="RegistryResponseException">The source answered with an error.</exception>
    /// <exception cref="RegistryProtocolException">The answer does not describe the range asked for.</exception>
    Task<Stream> OpenRangeAsync(long start, long end, CancellationToken cancellationToken = default);

    /// <summary>Opens the whole blob from its first byte.</summary>
    /// <exception cref="RegistryResponseException">The source answered with an error.</exception>
    /// <exception cref="RegistryProtocolException">The answer's length or encoding is not the blob's.</exception>
    Task<Stream> OpenAsync(CancellationToken cancellationToken = default);
}
