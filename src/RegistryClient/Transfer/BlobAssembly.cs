using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Hashing;
using RegistryClient.Remote;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// One blob being pulled: its partial file, its chunks (the registry's chunksums, or the puller's own ranges), its
/// resume marker, and the whole-blob SHA-256 computed in order while chunks arrive. The hash follows the
/// contiguous prefix of written bytes (read back from the page cache), so the blob is verified the moment its last
/// chunk lands and is committed into <c>blobs/</c> only if it matches.
/// </summary>
/// <remarks>
/// With chunk digests, a chunk becomes usable (marked in the resume marker) only once its own digest matched. The
/// whole-blob hash reads a chunk's bytes before that, keeping its state at the chunk's start: a chunk thrown away
/// and fetched again rolls the hash back, and the hash ends only once every chunk matched. Without chunk digests,
/// bytes are usable as they are written and a range is marked once complete; the whole-blob digest is then the only check.
/// Marks are written in batches, each after an fdatasync of the partial, so the marker never runs ahead of the data.
/// </remarks>
internal sealed class BlobAssembly : IDisposable
{
    private const int HashBufferSize = 4 << 20;
    private static readonly TimeSpan MarkInterval = TimeSpan.FromMilliseconds(250);

    private readonly long[] _usable;
    private readonly long[] _written; // chunk digests: bytes of each chunk's current attempt in place, not yet verified
    private readonly bool[] _fromEarlierPull; // taken from an earlier pull's partial: hashed from reads, which fail cleanly (a mapping would SIGBUS)
    private readonly int[] _attempts; // chunk digests: bumped whenever a chunk's bytes are thrown away
    private readonly bool[] _checkLocally;
    private readonly bool[] _trusted; // taken from the marker unverified in this run: checked as the hasher reads it
    private readonly SemaphoreSlim _signal = new(0); // unbounded: a spare wake-up only costs one empty loop
    private readonly ConcurrentQueue<int> _toMark = new();
    private readonly IProgress<TransferProgress>? _progress;
    private readonly PriorityQueue<int, long> _deferred = new(); // chunks beyond the window, by offset
    private readonly SortedList<long, Held> _held = []; // received bytes kept in memory until the hash reads them, by offset
    private ResumeMarker? _marker;
    private long _hashed; // the whole-blob hash has read this far
    private long _dropped; // cached pages before this were given back
    private int _pending;
    private int _inFlight;
    private volatile bool _rangeNotSupported;
    private long _downloaded;
    private long _reused;

    public BlobAssembly(IBlobSource source, PartialBlob partial, Chunk[] chunks, Digest[]? chunkDigests, IProgress<TransferProgress>? progress)
    {
        Source = source;
        Partial = partial;
        Chunks = chunks;
        ChunkDigests = chunkDigests;
        _usable = new long[chunks.Length];
        _written = new long[chunks.Length];
        _fromEarlierPull = new bool[chunks.Length];
        _attempts = new int[chunks.Length];
        _checkLocally = new bool[chunks.Length];
        _trusted = new bool[chunks.Length];
        _progress = progress;
    }

    /// <summary>Where the blob's bytes are read from (resolved once, when the blob was planned).</summary>
    public IBlobSource Source { get; }

    public PartialBlob Partial { get; }

    public Descriptor Descriptor => Partial.Descriptor;

    public Chunk[] Chunks { get; }

    /// <summary>The registry's digest of each chunk, or null when the chunks are the puller's own ranges.</summary>
    public Digest[]? ChunkDigests { get; }

    /// <summary>Queues a chunk for the worker pool again: one deferred by <see cref="TryStartInWindow"/> that the window reached.</summary>
    public required Action<BlobAssembly, int> Requeue { get; init; }

    /// <summary>
    /// How far beyond the hashed prefix a chunk may start (<see cref="PullOptions.HashWindow"/>). Without it the
    /// download runs ahead, takes most of both cores first and leaves the hash alone at the end; paced, the two
    /// share the cores, and the page cache holds at most about this much unhashed data.
    /// </summary>
    public required long HashWindow { get; init; }

    /// <summary>
    /// The pull's receive buffers, or null: bytes received into one stay there until the whole-blob hash reads them
    /// (no read back from the file), which lets the file be written past the page cache.
    /// </summary>
    public ReceiveBufferPool? Buffers { get; init; }

    /// <summary>The pull's engine hashing chunks in shared lanes, or null to hash each chunk through OpenSSL.</summary>
    public LaneHashEngine? Lanes { get; init; }

    /// <summary>Bytes downloaded in this run and kept.</summary>
    public long Downloaded => Interlocked.Read(ref _downloaded);

    /// <summary>Bytes reused from an earlier run's partial file.</summary>
    public long Reused => Interlocked.Read(ref _reused);

    /// <summary>
    /// Opens the resume marker. Chunks it records as durable are taken as they are; when the partial came from an
    /// earlier pull and chunk digests are known, every other chunk is checked against its digest before it is
    /// fetched. Returns the chunks still to do.
    /// </summary>
    public List<int> Resume(Digest listDigest)
    {
        _marker = ResumeMarker.Open(Partial.MarkerPath, Descriptor.Size, listDigest, ChunkDigests is not null, Chunks.Length, out bool[]? durable);
        var todo = new List<int>();
        for (int i = 0; i < Chunks.Length; i++)
        {
            bool inFile = Chunks[i].End < Partial.ExistingLength;
            if (durable is not null && durable[i] && inFile)
            {
                _usable[i] = Chunks[i].Length;
                _reused += Chunks[i].Length;
                _fromEarlierPull[i] = true;
                _trusted[i] = ChunkDigests is not null;
                continue;
            }

            _checkLocally[i] = inFile && ChunkDigests is not null;
            todo.Add(i);
        }

        _progress?.Report(new TransferProgress(Descriptor.Digest, _reused, Descriptor.Size, TransferState.Started, _reused));
        return todo;
    }

    /// <summary>
    /// For a chunk of a taken-over partial: hashes its bytes in the file and, when they match the chunk's digest,
    /// takes them instead of fetching them. Returns true when the chunk needs no fetch.
    /// </summary>
    public async Task<bool> TryReuseAsync(int index, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!_checkLocally[index] || ChunkDigests is null)
        {
            return false;
        }

        Chunk chunk = Chunks[index];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long offset = chunk.Start; offset <= chunk.End;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int want = (int)Math.Min(buffer.Length, chunk.End - offset + 1);
            int read = await Partial.ReadAsync(buffer[..want], offset, cancellationToken).ConfigureAwait(false);
            if (read <= 0)
            {
                return false;
            }

            hash.AppendData(buffer.Span[..read]);
            offset += read;
        }

        Span<byte> actual = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(actual);
        if (!ChunkDigests[index].Matches(actual))
        {
            return false;
        }

        Interlocked.Add(ref _reused, chunk.Length);
        _fromEarlierPull[index] = true;
        Publish(index, chunk.Length, durable: true);
        return true;
    }

    /// <summary>
    /// True when chunk <paramref name="index"/> starts within <see cref="HashWindow"/> of the hashed prefix and may be
    /// fetched now. Otherwise the chunk is kept aside and handed to <see cref="Requeue"/> once the hash gets near it;
    /// the worker takes other work meanwhile. The chunk the hash waits for is always within the window.
    /// </summary>
    public bool TryStartInWindow(int index)
    {
        lock (_deferred)
        {
            if (InWindow(index))
            {
                return true;
            }

            _deferred.Enqueue(index, Chunks[index].Start);
            return false;
        }
    }

    private bool InWindow(int index) => Chunks[index].Start - Volatile.Read(ref _hashed) < HashWindow;

    /// <summary>The hash reached <paramref name="hashed"/>: chunks kept aside that are now within the window go back to the pool.</summary>
    private void Advance(long hashed)
    {
        Volatile.Write(ref _hashed, hashed);
        lock (_deferred)
        {
            while (_deferred.TryPeek(out int index, out _) && InWindow(index))
            {
                Requeue(this, _deferred.Dequeue());
            }
        }
    }

    /// <summary>Bytes of the whole blob in place and usable (taken from an earlier pull, or written and, with chunk digests, verified).</summary>
    public long UsableBytes
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _usable.Length; i++)
            {
                sum += Volatile.Read(ref _usable[i]);
            }

            return sum;
        }
    }

    /// <summary>A transfer of this blob failed and will be tried again: shown on its progress.</summary>
    public void OnRetrying(RetryNotice notice)
    {
        long reused = Reused;
        _progress?.Report(new TransferProgress(Descriptor.Digest, reused + Downloaded, Descriptor.Size, TransferState.Running, reused, notice));
    }

    /// <summary>How many bytes of chunk <paramref name="index"/> are in place and usable (all of it once complete).</summary>
    public long UsableLength(int index) => Volatile.Read(ref _usable[index]);

    /// <summary>True once the registry was found to ignore Range for this blob: the rest comes as one stream.</summary>
    public bool RangeNotSupported => _rangeNotSupported;

    /// <summary>A worker starts fetching a chunk (the one-stream fallback waits until none is in flight).</summary>
    public void BeginFetch() => Interlocked.Increment(ref _inFlight);

    /// <summary>A worker is done with a chunk, whatever the outcome.</summary>
    public void EndFetch()
    {
        Interlocked.Decrement(ref _inFlight);
        Wake();
    }

    /// <summary>The registry ignores Range for this blob: chunks not yet usable come from one stream instead.</summary>
    public void OnRangeNotSupported()
    {
        _rangeNotSupported = true;
        Wake();
    }

    /// <summary>
    /// Own ranges: chunk <paramref name="index"/> now has <paramref name="writtenFromStart"/> bytes in place, the last
    /// of them <paramref name="written"/>. When those lie in a <see cref="ReceiveBuffer"/>, the buffer is the
    /// assembly's now: it keeps them for the whole-blob hash and gives the buffer back.
    /// </summary>
    public void OnWritten(int index, long writtenFromStart, ReadOnlyMemory<byte> written)
    {
        int justWritten = written.Length;
        Hold(index, Chunks[index].Start + writtenFromStart - justWritten, written);
        Interlocked.Add(ref _downloaded, justWritten);
        Publish(index, writtenFromStart, durable: writtenFromStart == Chunks[index].Length);
    }

    /// <summary>
    /// Chunk digests: chunk <paramref name="index"/> now has <paramref name="writtenFromStart"/> bytes in place, not yet
    /// verified. The whole-blob hash may read them ahead of the chunk's digest (and rolls back if they are thrown away).
    /// A <see cref="ReceiveBuffer"/> holding the last of them (<paramref name="written"/>) is the assembly's now, as in
    /// <see cref="OnWritten"/>.
    /// </summary>
    public void OnReceived(int index, long writtenFromStart, ReadOnlyMemory<byte> written)
    {
        int justWritten = written.Length;
        Hold(index, Chunks[index].Start + writtenFromStart - justWritten, written);
        Interlocked.Add(ref _downloaded, justWritten);
        Volatile.Write(ref _written[index], writtenFromStart);
        ReportRunning();
        Wake();
    }

    /// <summary>Chunk digests: an attempt at chunk <paramref name="index"/> begins; bytes of an earlier one in place are void.</summary>
    public void OnChunkAttempt(int index) => Forget(index);

    /// <summary>Chunk digests: the one stream broke inside chunk <paramref name="index"/>; the next stream writes it again from its start.</summary>
    public void OnChunkRestarted(int index, long received)
    {
        Forget(index);
        Interlocked.Add(ref _downloaded, -received);
    }

    /// <summary>Chunk digests: the chunk's bytes matched; it may be hashed and marked.</summary>
    public void OnChunkVerified(int index) => Publish(index, Chunks[index].Length, durable: true);

    /// <summary>Chunk digests: the chunk's bytes did not match and will be fetched again.</summary>
    public void OnChunkDiscarded(int index)
    {
        Forget(index);
        Interlocked.Add(ref _downloaded, -Chunks[index].Length);
    }

    /// <summary>The chunk's bytes in place are void: a new attempt writes it from its start (and a hash of the old ones is rolled back).</summary>
    private void Forget(int index)
    {
        ReleaseHeld(Chunks[index].Start, Chunks[index].End + 1);
        Interlocked.Increment(ref _attempts[index]);
        Volatile.Write(ref _written[index], 0);
        Wake();
    }

    /// <summary>Keeps bytes of chunk <paramref name="index"/> from <paramref name="position"/> on that lie in a receive buffer until the hash reads them.</summary>
    private void Hold(int index, long position, ReadOnlyMemory<byte> bytes)
    {
        if (!ReceiveBuffer.TryGet(bytes, out ReceiveBuffer? buffer, out int start))
        {
            return;
        }

        lock (_held)
        {
            if (_held.Remove(position, out Held replaced))
            {
                replaced.Buffer.Pool.Return(replaced.Buffer);
            }

            _held.Add(position, new Held(buffer!, start, bytes.Length, index, Volatile.Read(ref _attempts[index])));
        }
    }

    /// <summary>Gives back the buffers of held bytes that start in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    private void ReleaseHeld(long from, long to)
    {
        lock (_held)
        {
            for (int i = _held.Count - 1; i >= 0; i--)
            {
                long position = _held.Keys[i];
                if (position >= from && position < to)
                {
                    _held.Values[i].Buffer.Pool.Return(_held.Values[i].Buffer);
                    _held.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>
    /// Takes the held bytes that start at <paramref name="position"/>; else says where the next held bytes start (or
    /// long.MaxValue). Bytes of an attempt since thrown away are given back on the way, never taken.
    /// </summary>
    private bool TryTakeHeld(long position, out Held held, out long next)
    {
        lock (_held)
        {
            next = long.MaxValue;
            for (int i = _held.IndexOfKey(position) is int at and >= 0 ? at : 0; i < _held.Count; i++)
            {
                long start = _held.Keys[i];
                if (start < position)
                {
                    continue;
                }

                Held candidate = _held.Values[i];
                if (candidate.Attempt != Volatile.Read(ref _attempts[candidate.Chunk]))
                {
                    candidate.Buffer.Pool.Return(candidate.Buffer);
                    _held.RemoveAt(i--);
                    continue;
                }

                if (start == position)
                {
                    _held.RemoveAt(i);
                    held = candidate;
                    return true;
                }

                next = start;
                break;
            }

            held = default;
            return false;
        }
    }

    private void Publish(int index, long usable, bool durable)
    {
        Volatile.Write(ref _usable[index], usable);
        if (durable)
        {
            _toMark.Enqueue(index);
        }

        ReportRunning();
        Wake();
    }

    private void Wake()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0)
        {
            _signal.Release();
        }
    }

    private void ReportRunning()
    {
        long reused = Reused;
        _progress?.Report(new TransferProgress(Descriptor.Digest, reused + Downloaded, Descriptor.Size, TransferState.Running, reused));
    }

    /// <summary>
    /// Hashes the contiguous usable prefix as it grows, marking durable chunks in batches meanwhile, until the whole
    /// blob is hashed; then commits it, or discards it and reports the mismatch. Runs until done, failed or cancelled.
    /// </summary>
    /// <param name="refetch">Fetches a chunk again (when a chunk taken from the marker turns out damaged); completes once it is usable.</param>
    /// <param name="stream">Fetches every chunk from the given one on as one stream (the registry ignores Range); completes once all are usable.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public async Task RunAsync(Func<int, CancellationToken, Task> refetch, Func<int, CancellationToken, Task> stream, CancellationToken cancellationToken)
    {
        try
        {
            byte[] actual;
            using (var marking = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                Task markLoop = MarkLoopAsync(marking.Token);
                try
                {
                    actual = await HashAsync(refetch, stream, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    await marking.CancelAsync().ConfigureAwait(false);
                    await markLoop.ConfigureAwait(false);
                }
            }

            if (!Descriptor.Digest.Matches(actual))
            {
                _marker?.Delete();
                Partial.Discard();
                string why = ChunkDigests is null
                    ? "Pull again; if this repeats, the registry serves corrupt data"
                    : "every chunk matched the registry's chunksums, so the chunksums do not describe this blob; the registry is at fault";
                throw new DigestMismatchException(
                    $"blob {Descriptor.Digest} ({Descriptor.Size} bytes) arrived with digest {Digest.FromHash(actual)}; it was not stored. {why}");
            }

            CrashPoints.Hit("before-commit");
            Partial.CommitVerified();
            _marker?.Delete();
            _progress?.Report(new TransferProgress(Descriptor.Digest, Descriptor.Size, Descriptor.Size, TransferState.Completed, Reused));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _progress?.Report(new TransferProgress(Descriptor.Digest, Reused + Downloaded, Descriptor.Size, TransferState.Failed, Reused));
            throw;
        }
    }

    /// <summary>
    /// Hashes the chunks in order as they become usable. With chunk digests, a chunk's written bytes are hashed before
    /// its digest is known, keeping the state at its start: the chunk's digest decides later. If its bytes are thrown
    /// away meanwhile, the hash rolls back to that state; the result is returned only once every chunk matched.
    /// </summary>
    private async Task<byte[]> HashAsync(Func<int, CancellationToken, Task> refetch, Func<int, CancellationToken, Task> stream, CancellationToken cancellationToken)
    {
        long hashed = 0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(HashBufferSize, Math.Max(Descriptor.Size, 1)));
        IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var ahead = new List<HashedAhead>(); // chunks hashed before their digest matched, in order
        try
        {
            int k = 0;
            while (true)
            {
                Interlocked.Exchange(ref _pending, 0);
                if (ahead.FindIndex(a => Volatile.Read(ref _attempts[a.Index]) != a.Attempt) is int stale and >= 0)
                {
                    // The bytes of a chunk hashed ahead were thrown away: hash again from its start.
                    hash.Dispose();
                    hash = ahead[stale].Start.Clone();
                    k = ahead[stale].Index;
                    hashed = Chunks[k].Start;
                    ahead[stale..].ForEach(a => a.Start.Dispose());
                    ahead.RemoveRange(stale, ahead.Count - stale);
                    Advance(hashed);
                    continue;
                }

                while (ahead.Count > 0 && Volatile.Read(ref _usable[ahead[0].Index]) == Chunks[ahead[0].Index].Length
                    && Volatile.Read(ref _attempts[ahead[0].Index]) == ahead[0].Attempt)
                {
                    ahead[0].Start.Dispose(); // its digest matched the bytes hashed
                    ahead.RemoveAt(0);
                }

                if (k == Chunks.Length)
                {
                    if (ahead.Count == 0)
                    {
                        return hash.GetHashAndReset();
                    }

                    await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                Chunk chunk = Chunks[k];
                if (hashed == chunk.End + 1)
                {
                    k++;
                    continue;
                }

                long usableEnd = chunk.Start + Volatile.Read(ref _usable[k]);
                if (usableEnd <= hashed)
                {
                    if (ChunkDigests is not null)
                    {
                        // Not verified yet: hash what is written of it, keeping the state at its start to roll back to.
                        int attempt = Volatile.Read(ref _attempts[k]);
                        long writtenEnd = chunk.Start + Volatile.Read(ref _written[k]);
                        if (writtenEnd > hashed)
                        {
                            if (hashed == chunk.Start)
                            {
                                ahead.Add(new HashedAhead(k, hash.Clone(), attempt));
                            }

                            await HashRangeAsync(k, hashed, writtenEnd, buffer, hash, null, cancellationToken).ConfigureAwait(false);
                            hashed = writtenEnd;
                            Advance(hashed);
                            continue;
                        }
                    }

                    if (_rangeNotSupported && Volatile.Read(ref _inFlight) == 0)
                    {
                        await stream(k, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (_trusted[k])
                {
                    // Taken from the marker: check the chunk's digest in this same read; on a mismatch, roll the
                    // whole-blob hash back to the chunk's start and fetch the chunk again.
                    using IncrementalHash before = hash.Clone();
                    using var chunkHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    await HashRangeAsync(k, hashed, chunk.End + 1, buffer, hash, chunkHash, cancellationToken).ConfigureAwait(false);
                    _trusted[k] = false;
                    if (ChunkDigests![k].Matches(chunkHash.GetHashAndReset()))
                    {
                        hashed = chunk.End + 1;
                        Advance(hashed);
                        continue;
                    }

                    hash.Dispose();
                    hash = before.Clone();
                    Volatile.Write(ref _usable[k], 0);
                    _marker?.Unmark(k);
                    Interlocked.Add(ref _reused, -chunk.Length);
                    await refetch(k, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                await HashRangeAsync(k, hashed, usableEnd, buffer, hash, null, cancellationToken).ConfigureAwait(false);
                hashed = usableEnd;
                Advance(hashed);
            }
        }
        finally
        {
            hash.Dispose();
            ahead.ForEach(a => a.Start.Dispose());
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Bytes of attempt <paramref name="Attempt"/> at chunk <paramref name="Chunk"/>, held in a receive buffer from index <paramref name="Start"/>.</summary>
    private readonly record struct Held(ReceiveBuffer Buffer, int Start, int Length, int Chunk, int Attempt);

    /// <summary>A chunk hashed before its digest matched: the whole-blob hash at its start, and which attempt's bytes were read.</summary>
    private sealed record HashedAhead(int Index, IncrementalHash Start, int Attempt);

    /// <summary>
    /// Hashes bytes [<paramref name="from"/>, <paramref name="to"/>) of chunk <paramref name="index"/>: from memory where
    /// they are held in receive buffers (which go back to the pool), else read back from the partial, in place from the
    /// page cache when this process wrote them there, else copied out.
    /// </summary>
    private async Task HashRangeAsync(int index, long from, long to, byte[] buffer, IncrementalHash hash, IncrementalHash? chunkHash, CancellationToken cancellationToken)
    {
        for (long position = from; position < to;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (TryTakeHeld(position, out Held held, out long next))
            {
                int take = (int)Math.Min(held.Length, to - position);
                ReadOnlySpan<byte> bytes = held.Buffer.Memory.Span.Slice(held.Start, take);
                hash.AppendData(bytes);
                chunkHash?.AppendData(bytes);
                position += take;
                if (take < held.Length)
                {
                    lock (_held)
                    {
                        if (!_held.TryAdd(position, held with { Start = held.Start + take, Length = held.Length - take }))
                        {
                            held.Buffer.Pool.Return(held.Buffer); // newer bytes are held there already
                        }
                    }
                }
                else
                {
                    held.Buffer.Pool.Return(held.Buffer);
                }

                continue;
            }

            int want = (int)Math.Min(Math.Min(buffer.Length, to - position), next - position);
            bool inPlace = chunkHash is null && !_fromEarlierPull[index] && !Partial.WroteDirect;
            if (inPlace && Partial.TryHashWritten(position, want, hash))
            {
                position += want;
                continue;
            }

            int read = await Partial.ReadAsync(buffer.AsMemory(0, want), position, cancellationToken).ConfigureAwait(false);
            if (read <= 0)
            {
                throw new StoreException($"{Partial.Path} is shorter than the {to} bytes written to it");
            }

            hash.AppendData(buffer, 0, read);
            chunkHash?.AppendData(buffer, 0, read);
            position += read;
        }
    }

    /// <summary>Every <see cref="MarkInterval"/>, makes the newly usable chunks durable and marks them; once more at the end.</summary>
    private async Task MarkLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(MarkInterval, cancellationToken).ConfigureAwait(false);
                MarkDurable();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: record what is durable so far, below.
        }

        try
        {
            MarkDurable();
        }
        catch (StoreException)
        {
            // The pull is failing already; a missed mark costs a re-check on resume.
        }
    }

    private void MarkDurable()
    {
        if (_marker is null || _toMark.IsEmpty)
        {
            return;
        }

        var batch = new List<int>();
        while (_toMark.TryDequeue(out int index))
        {
            batch.Add(index);
        }

        long hashed = Volatile.Read(ref _hashed); // read before the flush: these bytes are clean after it
        Partial.Flush();
        CrashPoints.Hit("after-flush");
        _marker.Mark(batch);
        Partial.DropCached(_dropped, hashed - _dropped);
        _dropped = Math.Max(_dropped, hashed);
    }

    public void Dispose()
    {
        ReleaseHeld(0, long.MaxValue);
        _marker?.Dispose();
        Partial.Dispose();
        _signal.Dispose();
    }
}
