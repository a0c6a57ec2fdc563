using System.Net;
using System.Net.Http.Headers;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;

namespace RegistryClient.Transfer;

/// <summary>
/// Streams one range of a blob from the registry into its final offsets in the partial file. A retry after a
/// cut or a stall continues from the byte where the last attempt stopped, not from the range's start.
/// </summary>
internal sealed class ChunkFetcher
{
    private readonly RemoteRegistry _registry;
    private readonly TimeSpan _stallTimeout;

    public ChunkFetcher(RemoteRegistry registry, TimeSpan stallTimeout)
    {
        _registry = registry;
        _stallTimeout = stallTimeout;
    }

    /// <summary>Fetches chunk <paramref name="index"/> of <paramref name="blob"/>, using <paramref name="buffer"/> for the bytes.</summary>
    public async Task FetchAsync(ModelName name, BlobAssembly blob, int index, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Chunk chunk = blob.Chunks[index];
        long position = chunk.Start;
        await _registry.Pipeline.ExecuteAsync(
            async token =>
            {
                if (position <= chunk.End)
                {
                    position = await FetchOnceAsync(name, blob, index, position, buffer, token).ConfigureAwait(false);
                }
            },
            cancellationToken).ConfigureAwait(false);
    }

    private async Task<long> FetchOnceAsync(ModelName name, BlobAssembly blob, int index, long position, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Chunk chunk = blob.Chunks[index];
        Descriptor descriptor = blob.Descriptor;
        Uri? cached = blob.Location;
        Uri uri = cached ?? _registry.GetBlobUri(name, descriptor.Digest);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(_stallTimeout);
        try
        {
            using HttpResponseMessage response = await _registry.SendAsync(
                HttpMethod.Get, uri, request => request.Headers.Range = new RangeHeaderValue(position, chunk.End), stall.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                if (cached is not null && (int)response.StatusCode is >= 400 and < 500)
                {
                    // A signed storage URL can expire; go back to the registry for a fresh one.
                    blob.Location = null;
                    throw new RegistryProtocolException($"the storage URL of {descriptor.Digest.Short} answered {(int)response.StatusCode}; asking the registry again", isTransient: true);
                }

                throw await _registry.CreateErrorAsync(response, name, cancellationToken).ConfigureAwait(false);
            }

            CheckRange(response, descriptor, position, chunk.End);
            if (cached is null && response.RequestMessage?.RequestUri is { } final && final != uri)
            {
                blob.Location = final;
            }

            Stream body = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                while (position <= chunk.End)
                {
                    int want = (int)Math.Min(buffer.Length, chunk.End - position + 1);
                    int filled = 0;
                    while (filled < want)
                    {
                        int read = await body.ReadAsync(buffer[filled..want], stall.Token).ConfigureAwait(false);
                        if (read == 0)
                        {
                            break;
                        }

                        filled += read;
                        stall.CancelAfter(_stallTimeout);
                    }

                    if (filled > 0)
                    {
                        await blob.Partial.WriteAsync(buffer[..filled], position, cancellationToken).ConfigureAwait(false);
                        position += filled;
                        blob.OnWritten(index, position - chunk.Start, filled);
                    }

                    if (filled < want)
                    {
                        throw new RegistryProtocolException(
                            $"the body for {descriptor.Digest.Short} bytes {chunk} ended at byte {position}", isTransient: true);
                    }
                }
            }

            return position;
        }
        catch (OperationCanceledException) when (stall.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Keep what arrived: the retry continues from the last byte written.
            throw new StallTimeoutException(
                $"no bytes for {_stallTimeout.TotalSeconds:0.#} s from {RemoteRegistry.Redact(uri)} ({descriptor.Digest.Short} bytes {position}-{chunk.End})");
        }
    }

    /// <summary>
    /// Accepts a 206 only when its Content-Range is exactly the range asked for, and a 200 only when the range
    /// starts at 0 (its body then starts at the right byte). Refused before any byte is written.
    /// </summary>
    private static void CheckRange(HttpResponseMessage response, Descriptor descriptor, long position, long end)
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
                throw new RegistryProtocolException(
                    $"the registry ignored Range bytes={position}-{end} for {descriptor.Digest.Short} and sent the whole blob (200)", isTransient: false);
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
