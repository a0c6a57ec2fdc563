using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
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

    /// <summary>
    /// Fetches chunk <paramref name="index"/> of <paramref name="blob"/>, using <paramref name="buffer"/> for the bytes.
    /// With chunk digests, the chunk is hashed as it streams (across reconnects) and fetched again from its start
    /// when the digest is wrong, up to <see cref="MaxDigestAttempts"/> times.
    /// </summary>
    /// <exception cref="DigestMismatchException">The chunk kept arriving with the wrong digest; the message names blob, range, expected and actual digest.</exception>
    public async Task FetchAsync(BlobAssembly blob, int index, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Chunk chunk = blob.Chunks[index];
        if (blob.ChunkDigests is not { } digests)
        {
            await FetchRangeAsync(blob, index, buffer, hash: null, cancellationToken).ConfigureAwait(false);
            return;
        }

        byte[] actual = new byte[SHA256.HashSizeInBytes];
        for (int attempt = 1; ; attempt++)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await FetchRangeAsync(blob, index, buffer, hash, cancellationToken).ConfigureAwait(false);
            hash.GetHashAndReset(actual);
            if (digests[index].Matches(actual))
            {
                blob.OnChunkVerified(index);
                return;
            }

            blob.OnChunkDiscarded(index);
            if (attempt == MaxDigestAttempts)
            {
                throw new DigestMismatchException(
                    $"blob {blob.Descriptor.Digest} bytes {chunk}: expected {digests[index]}, got {Digest.FromHash(actual)} ({attempt} attempts); the registry serves corrupt data for this chunk, nothing of it was kept");
            }
        }
    }

    /// <summary>How many times a chunk whose digest is wrong is fetched in all.</summary>
    public const int MaxDigestAttempts = 3;

    private async Task FetchRangeAsync(BlobAssembly blob, int index, Memory<byte> buffer, IncrementalHash? hash, CancellationToken cancellationToken)
    {
        Chunk chunk = blob.Chunks[index];
        var cursor = new StrongBox<long>(chunk.Start); // advanced as bytes are written, so a retry continues there
        await _registry.Pipeline.ExecuteAsync(
            async token =>
            {
                if (cursor.Value <= chunk.End)
                {
                    await FetchOnceAsync(blob, index, cursor, buffer, hash, token).ConfigureAwait(false);
                }
            },
            cancellationToken).ConfigureAwait(false);
    }

    private async Task FetchOnceAsync(BlobAssembly blob, int index, StrongBox<long> cursor, Memory<byte> buffer, IncrementalHash? hash, CancellationToken cancellationToken)
    {
        Chunk chunk = blob.Chunks[index];
        long position = cursor.Value;
        Descriptor descriptor = blob.Descriptor;
        ModelName name = blob.Name;
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
                    throw new RegistryProtocolException($"{RemoteRegistry.Redact(cached)} answered {(int)response.StatusCode} for {descriptor.Digest.Short}; asking the registry again", isTransient: true);
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
                    ExceptionDispatchInfo? broken = null;
                    while (filled < want)
                    {
                        int read;
                        try
                        {
                            read = await body.ReadAsync(buffer[filled..want], stall.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (filled > 0 && e is IOException or HttpRequestException or OperationCanceledException)
                        {
                            broken = ExceptionDispatchInfo.Capture(e); // keep what arrived before the break, below
                            break;
                        }

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
                        cursor.Value = position;
                        if (hash is null)
                        {
                            blob.OnWritten(index, position - chunk.Start, filled);
                        }
                        else
                        {
                            hash.AppendData(buffer.Span[..filled]);
                            blob.OnReceived(filled);
                        }
                    }

                    broken?.Throw();
                    if (filled < want)
                    {
                        throw new RegistryProtocolException(
                            $"the body for {descriptor.Digest.Short} bytes {chunk} ended at byte {position}", isTransient: true);
                    }
                }
            }

        }
        catch (OperationCanceledException) when (stall.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Keep what arrived: the retry continues from the last byte written (and the chunk's hash with it).
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
