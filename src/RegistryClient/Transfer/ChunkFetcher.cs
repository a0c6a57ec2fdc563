using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using RegistryClient.Content;
using RegistryClient.Remote;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// Streams one range of a blob from the registry into its final offsets in the partial file. A retry after a
/// cut or a stall continues from the byte where the last attempt stopped, not from the range's start.
/// </summary>
internal sealed class ChunkFetcher
{
    /// <summary>How many times a chunk whose digest is wrong is fetched in all.</summary>
    public const int MaxDigestAttempts = 3;

    /// <summary>Stalls without progress after which a transfer gives up (not retried again).</summary>
    public const int MaxStallsWithoutProgress = 3;

    /// <summary>
    /// A transfer must deliver this much per stall timeout; a trickle below it counts as a stall (an idle timer
    /// re-armed by every single byte would never fire on a slow-loris server).
    /// </summary>
    public const int TrickleFloorBytes = 64 << 10;

    /// <summary>How often one range may be cut for running far slower than the others; then it is left to finish.</summary>
    public const int MaxSlowCuts = 2;

    private readonly RemoteRegistry _registry;
    private readonly TimeSpan _stallTimeout;
    private readonly RateLimiter? _limiter;
    private readonly SlowStreamMonitor? _monitor;

    public ChunkFetcher(RemoteRegistry registry, TimeSpan stallTimeout, RateLimiter? limiter)
    {
        _registry = registry;
        _stallTimeout = stallTimeout;
        _limiter = limiter;

        // Under --limit-rate the streams share one budget, so their rates say nothing about the network.
        _monitor = limiter is null ? new SlowStreamMonitor(registry.TimeProvider) : null;
    }

    /// <summary>
    /// Fetches chunk <paramref name="index"/> of <paramref name="blob"/>, using <paramref name="buffer"/> for the bytes.
    /// With chunk digests, the chunk is hashed as it streams (across reconnects) and fetched again from its start
    /// when the digest is wrong, up to <see cref="MaxDigestAttempts"/> times.
    /// </summary>
    /// <exception cref="DigestMismatchException">The chunk kept arriving with the wrong digest; the message names blob, range, expected and actual digest.</exception>
    /// <exception cref="RangeNotSupportedException">The registry ignores Range for this blob.</exception>
    public async Task FetchAsync(BlobAssembly blob, int index, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            using ChunkAttempt chunk = blob.BeginAttempt(index, inLanes: true);
            if (blob.Peers is var (peers, repository) && peers.Take() is { } peer)
            {
                // One try at the peer, without the retry budget: any failure sends the chunk elsewhere. Not an attempt of the origin's.
                attempt--;
                if (await FetchFromPeerAsync(blob, chunk, peers, peer, peers.SourceFor(peer, repository, blob.Descriptor), buffer, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            long started = Stopwatch.GetTimestamp();
            bool verified = false;
            try
            {
                await FetchRangeAsync(blob, chunk, buffer, cancellationToken).ConfigureAwait(false);
                verified = chunk.TryComplete(out Digest actual);
                if (verified)
                {
                    blob.Peers?.Set.Done(null, chunk.Chunk.Length, Stopwatch.GetElapsedTime(started));
                    return;
                }

                if (attempt >= MaxDigestAttempts)
                {
                    throw new DigestMismatchException(
                        $"blob {blob.Descriptor.Digest} bytes {chunk.Chunk}: expected {blob.ChunkDigests![index]}, got {actual} ({attempt} attempts); the registry serves corrupt data for this chunk, nothing of it was kept");
                }
            }
            finally
            {
                if (!verified)
                {
                    blob.Peers?.Set.OriginFailed();
                }
            }
        }
    }

    /// <summary>One request for <paramref name="chunk"/> to <paramref name="peer"/>; the chunk is complete afterwards only when its bytes matched the origin's digest.</summary>
    private async Task<bool> FetchFromPeerAsync(
        BlobAssembly blob, ChunkAttempt chunk, PeerSet peers, PeerSet.Peer peer, IBlobSource source, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            await FetchOnceAsync(blob, source, chunk, new RangeCursor { Position = chunk.Chunk.Start }, buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            chunk.Abandon();
            peers.Failed(peer, e.Message, corrupt: false);
            return false;
        }
        catch
        {
            chunk.Abandon();
            peers.Release(peer); // the pull was cancelled: not the peer's failure
            throw;
        }

        if (chunk.TryComplete(out Digest actual))
        {
            peers.Done(peer, chunk.Chunk.Length, Stopwatch.GetElapsedTime(started));
            return true;
        }

        peers.Failed(peer, $"bytes {chunk.Chunk} of {blob.Descriptor.Digest.Short} hash to {actual.Short}", corrupt: true);
        return false;
    }

    /// <summary>
    /// Fetches the blob as one stream from its start (for registries that ignore Range): bytes before chunk
    /// <paramref name="from"/> and of chunks already usable are read and dropped; every other chunk is written,
    /// and with chunk digests checked, as it passes. A retry starts a new stream and continues at the first chunk
    /// not yet complete.
    /// </summary>
    public async Task FetchStreamAsync(BlobAssembly blob, int from, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Descriptor descriptor = blob.Descriptor;
        var next = new StrongBox<int>(from); // the first chunk not yet complete, kept across attempts
        await _registry.ExecuteAsync(
            async token =>
            {
                using var stall = CancellationTokenSource.CreateLinkedTokenSource(token);
                stall.CancelAfter(_stallTimeout);
                try
                {
                    Stream body = await blob.Source.OpenAsync(stall.Token).ConfigureAwait(false);
                    await using (body.ConfigureAwait(false))
                    {
                        await StreamChunksAsync(blob, next, body, buffer, stall, token).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (stall.IsCancellationRequested && !token.IsCancellationRequested)
                {
                    throw new StallTimeoutException($"no bytes for {_stallTimeout.TotalSeconds:0.#} s from {blob.Source.Location} ({descriptor.Digest.Short}, one stream)")
                    {
                        Reason = StallReason,
                    };
                }
            },
            Budget(blob, $"{descriptor.Digest.Short} (one stream)", () => blob.Ledger.UsableBytes),
            cancellationToken).ConfigureAwait(false);
    }

    private async Task StreamChunksAsync(BlobAssembly blob, StrongBox<int> next, Stream body, Memory<byte> buffer, CancellationTokenSource stall, CancellationToken cancellationToken)
    {
        long position = 0;
        for (int index = next.Value; index < blob.Chunks.Length; index++)
        {
            Chunk chunk = blob.Chunks[index];
            long keepFrom = chunk.Start + blob.Ledger.Usable(index); // bytes already usable may be hashed: never rewrite them
            using ChunkAttempt? attempt = keepFrom <= chunk.End ? blob.BeginAttempt(index, inLanes: false) : null; // one stream: lanes would idle
            try
            {
                while (position <= chunk.End)
                {
                    long skip = keepFrom - position;
                    int want = (int)Math.Min(buffer.Length, skip > 0 ? skip : chunk.End - position + 1);
                    int filled;
                    try
                    {
                        filled = await ReadFullAsync(body, buffer[..want], stall, null, cancellationToken).ConfigureAwait(false);
                    }
                    catch (PartialReadException e)
                    {
                        ExceptionDispatchInfo.Throw(e.InnerException!); // the next stream starts this chunk over
                        throw;
                    }

                    if (filled < want)
                    {
                        throw new RegistryProtocolException($"the body for {blob.Descriptor.Digest.Short} ended at byte {position + filled}", isTransient: true);
                    }

                    if (skip <= 0)
                    {
                        await attempt!.WriteAsync(buffer[..filled], position, cancellationToken).ConfigureAwait(false);
                    }

                    position += filled;
                }
            }
            catch
            {
                attempt?.Abandon(); // with chunk digests, the chunk starts over in the next stream
                throw;
            }

            if (attempt is not null && !attempt.TryComplete(out Digest actual))
            {
                throw new DigestMismatchException(
                    $"blob {blob.Descriptor.Digest} bytes {chunk}: expected {blob.ChunkDigests![index]}, got {actual}; the registry serves corrupt data for this chunk, nothing of it was kept");
            }

            next.Value = index + 1;
        }
    }

    private async Task FetchRangeAsync(BlobAssembly blob, ChunkAttempt attempt, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Chunk chunk = attempt.Chunk;
        var cursor = new RangeCursor { Position = chunk.Start }; // advanced as bytes are written, so a retry continues there
        await _registry.ExecuteAsync(
            async token =>
            {
                if (cursor.Position <= chunk.End)
                {
                    await FetchOnceAsync(blob, blob.Source, attempt, cursor, buffer, token).ConfigureAwait(false);
                }
            },
            Budget(blob, $"{blob.Descriptor.Digest.Short} bytes {chunk}", () => cursor.Position),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The retry budget of one transfer of <paramref name="blob"/>: attempts that keep new bytes (read through
    /// <paramref name="kept"/>) do not count against it; it ends after the registry's retries in a row without progress,
    /// or after <see cref="MaxStallsWithoutProgress"/> stalls without progress. Retries are shown on the blob's progress.
    /// </summary>
    private RetryBudget Budget(BlobAssembly blob, string subject, Func<long> kept) =>
        _registry.CreateBudget(subject, kept, MaxStallsWithoutProgress, blob.OnRetrying);

    private string StallReason => $"no data for {_stallTimeout.TotalSeconds:0.#} s";

    private async Task FetchOnceAsync(BlobAssembly blob, IBlobSource source, ChunkAttempt attempt, RangeCursor cursor, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Chunk chunk = attempt.Chunk;
        long position = cursor.Position;
        Descriptor descriptor = blob.Descriptor;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(_stallTimeout);
        using SlowStreamMonitor.Watch? watch = _monitor?.Start(stall, cursor.SlowCuts < MaxSlowCuts);
        try
        {
            Stream body = await source.OpenRangeAsync(position, chunk.End, stall.Token).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                while (position <= chunk.End)
                {
                    // Into a pooled receive buffer when one is free (its bytes then wait there for the blob's hash),
                    // else into the worker's own.
                    ReceiveBuffer? rented = blob.Buffers?.TryRent();
                    int want = (int)Math.Min(rented?.Pool.BufferSize ?? buffer.Length, chunk.End - position + 1);
                    ReceiveLease? lease = rented?.For(position, want);
                    Memory<byte> target = lease?.Memory ?? buffer[..want];
                    ExceptionDispatchInfo? broken = null;
                    int filled;
                    try
                    {
                        filled = await ReadFullAsync(body, target, stall, watch, cancellationToken).ConfigureAwait(false);
                    }
                    catch (PartialReadException e)
                    {
                        filled = e.Filled; // keep what arrived before the break, below
                        broken = ExceptionDispatchInfo.Capture(e.InnerException!);
                    }
                    catch
                    {
                        lease?.Return();
                        throw;
                    }

                    if (filled > 0)
                    {
                        if (lease is { } held)
                        {
                            await attempt.WriteAsync(held.Slice(0, filled), position, cancellationToken).ConfigureAwait(false); // the lease goes with the bytes
                        }
                        else
                        {
                            await attempt.WriteAsync(target[..filled], position, cancellationToken).ConfigureAwait(false);
                        }

                        position += filled;
                        cursor.Position = position;
                    }
                    else
                    {
                        lease?.Return();
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
        catch (OperationCanceledException) when (watch?.CutReason is { } reason && !cancellationToken.IsCancellationRequested)
        {
            cursor.SlowCuts++;
            throw new StallTimeoutException(
                $"{descriptor.Digest.Short} bytes {position}-{chunk.End} from {source.Location} came at {reason}; reconnecting",
                isTransient: true)
            {
                Reason = "far slower than the other streams",
            };
        }
        catch (OperationCanceledException) when (stall.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Keep what arrived: the retry continues from the last byte written (and the chunk's hash with it). The
            // retry budget counts stalls without progress and ends the transfer after a few.
            throw new StallTimeoutException(
                $"less than {TrickleFloorBytes >> 10} KiB in {_stallTimeout.TotalSeconds:0.#} s from {source.Location} ({descriptor.Digest.Short} bytes {position}-{chunk.End})",
                isTransient: true)
            {
                Reason = StallReason,
            };
        }
    }

    /// <summary>
    /// Reads until <paramref name="buffer"/> is full or the body ends; returns the bytes read. The stall timer is
    /// re-armed only per <see cref="TrickleFloorBytes"/> received (and after the rate limiter's own waits). A break
    /// after some bytes arrived is thrown as <see cref="PartialReadException"/> so the caller can keep them.
    /// </summary>
    private async Task<int> ReadFullAsync(Stream body, Memory<byte> buffer, CancellationTokenSource stall, SlowStreamMonitor.Watch? watch, CancellationToken cancellationToken)
    {
        int filled = 0;
        int armedAt = 0;
        int floor = Math.Min(TrickleFloorBytes, buffer.Length);
        while (filled < buffer.Length)
        {
            int read;
            try
            {
                int slice = _limiter is null ? buffer.Length - filled : Math.Min(buffer.Length - filled, RateLimiter.MaxRead);
                read = await body.ReadAsync(buffer.Slice(filled, slice), stall.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (filled > 0 && e is IOException or HttpRequestException or OperationCanceledException)
            {
                throw new PartialReadException(filled, e);
            }

            if (read == 0)
            {
                break;
            }

            filled += read;
            watch?.Add(read);
            if (_limiter is not null)
            {
                await _limiter.TakeAsync(read, cancellationToken).ConfigureAwait(false);
                stall.CancelAfter(_stallTimeout); // our own throttling is not the registry's stall
            }
            else if (filled - armedAt >= floor)
            {
                stall.CancelAfter(_stallTimeout);
                armedAt = filled;
            }
        }

        return filled;
    }

    /// <summary>Where a range's next byte goes, and how often it was cut for being slow; kept across attempts.</summary>
    private sealed class RangeCursor
    {
        public long Position { get; set; }

        public int SlowCuts { get; set; }
    }

    private sealed class PartialReadException(int filled, Exception inner) : Exception(inner.Message, inner)
    {
        public int Filled { get; } = filled;
    }
}
