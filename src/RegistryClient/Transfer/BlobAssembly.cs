using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Hashing;
using RegistryClient.Remote;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// One blob being pulled: where its bytes come from (<see cref="Source"/>), the partial file that owns them
/// (<see cref="PartialBlob"/>: the file, its journal, its whole-blob hash and its commit), what is known of each chunk
/// (<see cref="ChunkLedger"/>), the received bytes held for the hash (<see cref="HeldBytes"/>), the window that paces
/// ranges to the hash (<see cref="HashWindow"/>) and the hasher (<see cref="BlobHasher"/>). Workers take attempts at its
/// chunks (<see cref="BeginAttempt"/>); <see cref="RunAsync"/> hashes them in order, records durable chunks in the
/// journal, and commits the blob once its last chunk lands.
/// </summary>
/// <remarks>
/// With chunk digests checked on arrival, a chunk becomes usable (and recorded) only once its own digest matched.
/// Otherwise (own ranges, or chunk digests left for the end) bytes are usable as they are written and a chunk is
/// recorded once complete; the whole-blob digest decides. When it fails and chunk digests are known, each chunk in the
/// file is checked against its digest, and only the wrong ones are fetched again (checked on arrival this time) before
/// the blob is hashed again. Records are written in batches, each after a flush of the partial, so the journal never
/// runs ahead of the data. Chunks taken from the journal are checked against their digests as the hasher reads them.
/// </remarks>
internal sealed class BlobAssembly : IDisposable
{
    private readonly IProgress<PullProgress>? _progress;
    private readonly WakeSignal _signal = new();
    private readonly WakeSignal _durable = new(); // a chunk became durable: the recorder records it
    private readonly HashWindow _window;
    private readonly BlobHasher _hasher;
    private int _inFlight;
    private volatile bool _rangeNotSupported;
    private volatile bool _verifyOnArrival;

    /// <param name="source">Where the blob's bytes are read from.</param>
    /// <param name="partial">The blob's partial file, claimed for this pull.</param>
    /// <param name="chunks">The blob's chunks (the chunk list's, or the puller's own ranges).</param>
    /// <param name="chunkDigests">The digest of each chunk, or null for own ranges.</param>
    /// <param name="verifyOnArrival">With chunk digests: check each chunk as it arrives (true) or only when the whole-blob digest fails (false; see <see cref="PullOptions.VerifyChunksOnArrival"/>).</param>
    /// <param name="window">How far beyond the hashed prefix a chunk may start (<see cref="PullOptions.HashWindow"/>).</param>
    /// <param name="requeue">Hands a chunk kept aside by the window back to the worker pool once the hash is near it.</param>
    /// <param name="progress">Receives the blob's progress; null means none.</param>
    public BlobAssembly(
        IBlobSource source, PartialBlob partial, Chunk[] chunks, Digest[]? chunkDigests, bool verifyOnArrival, long window, Action<BlobAssembly, int> requeue, IProgress<PullProgress>? progress)
    {
        Source = source;
        Partial = partial;
        Chunks = chunks;
        ChunkDigests = chunkDigests;
        _verifyOnArrival = verifyOnArrival;
        _progress = progress;
        Ledger = new ChunkLedger(chunks, Changed, _durable.Wake);
        Held = new HeldBytes(Ledger.Attempt);
        _window = new HashWindow(chunks, window, index => requeue(this, index));
        _hasher = new BlobHasher(partial, chunks, chunkDigests, Ledger, Held, _window, _signal);
    }

    /// <summary>Where the blob's bytes are read from (resolved once, when the blob was planned).</summary>
    public IBlobSource Source { get; }

    public PartialBlob Partial { get; }

    public Descriptor Descriptor => Partial.Descriptor;

    public Chunk[] Chunks { get; }

    /// <summary>The digest of each chunk, or null when the chunks are the puller's own ranges.</summary>
    public Digest[]? ChunkDigests { get; }

    /// <summary>True when each chunk is checked against its digest as it arrives (else the whole-blob digest decides first).</summary>
    public bool VerifiesChunksOnArrival => ChunkDigests is not null && _verifyOnArrival;

    /// <summary>What is known of each chunk.</summary>
    public ChunkLedger Ledger { get; }

    /// <summary>Received bytes kept in their receive buffers until the hash reads them.</summary>
    public HeldBytes Held { get; }

    /// <summary>The pull's receive buffers, or null to read into the workers' own (their bytes are then read back from the file).</summary>
    public ReceiveBufferPool? Buffers { get; init; }

    /// <summary>The pull's engine hashing chunks in shared lanes, or null to hash each chunk through OpenSSL.</summary>
    public LaneHashEngine? Lanes { get; init; }

    /// <summary>Told of each chunk checked against its digest and written (<see cref="PullOptions.ChunkVerified"/>).</summary>
    public Action<VerifiedChunk>? ChunkVerified { get; init; }

    /// <summary>Peers to take chunks from, with the repository they are asked under; null: the origin alone. Set only with the origin's chunk digests, checked on arrival.</summary>
    public (PeerSet Set, Names.ModelName Repository)? Peers { get; init; }

    /// <summary>Bytes downloaded in this run and kept.</summary>
    public long Downloaded => Ledger.Downloaded;

    /// <summary>Bytes reused from an earlier run's partial file.</summary>
    public long Reused => Ledger.Reused;

    /// <summary>True once the source was found to ignore Range for this blob: the rest comes as one stream.</summary>
    public bool RangeNotSupported => _rangeNotSupported;

    /// <summary>
    /// Opens the partial's journal: chunks it records as durable are taken as they are; when the partial came from an
    /// earlier pull and chunk digests are known, every other chunk in the file is checked against its digest before it
    /// is fetched. Returns the chunks still to do.
    /// </summary>
    public List<int> Resume(Digest listDigest)
    {
        bool[]? durable = Partial.OpenJournal(listDigest, ChunkDigests is not null, Chunks.Length);
        List<int> todo = Ledger.Resume(durable, Partial.ExistingLength, ChunkDigests is not null);
        _progress?.Report(new PullProgress(Descriptor.Digest, Reused, Descriptor.Size, TransferState.Started, Reused));
        return todo;
    }

    /// <summary>
    /// For a chunk of a taken-over partial: hashes its bytes in the file and, when they match the chunk's digest, takes
    /// them instead of fetching them. Returns true when the chunk needs no fetch.
    /// </summary>
    public async Task<bool> TryReuseAsync(int index, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!Ledger.CheckLocally(index) || ChunkDigests is null || !await MatchesInFileAsync(index, buffer, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        Ledger.Reuse(index);
        return true;
    }

    /// <summary>True when chunk <paramref name="index"/>'s bytes in the partial file hash to its digest (read through <paramref name="buffer"/>).</summary>
    private async Task<bool> MatchesInFileAsync(int index, Memory<byte> buffer, CancellationToken cancellationToken)
    {
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

        return ChunkDigests![index].Matches(hash.GetHashAndReset());
    }

    /// <summary>True when chunk <paramref name="index"/> may be fetched now (see <see cref="HashWindow"/>).</summary>
    public bool TryStartInWindow(int index) => _window.TryStart(index);

    /// <summary>
    /// Begins an attempt at chunk <paramref name="index"/>: with chunk digests checked on arrival, bytes of an earlier
    /// attempt in place are void from here on, and the new attempt's bytes are hashed as they pass, in the pull's lanes
    /// when <paramref name="inLanes"/> (many streams at once) or through OpenSSL.
    /// </summary>
    public ChunkAttempt BeginAttempt(int index, bool inLanes)
    {
        if (!VerifiesChunksOnArrival)
        {
            return new ChunkAttempt(this, index, hash: null, Ledger.Attempt(index));
        }

        Void(index, 0);
        return new ChunkAttempt(this, index, new ChunkHasher(inLanes ? Lanes : null), Ledger.Attempt(index));
    }

    /// <summary>The bytes in place of chunk <paramref name="index"/>'s current attempt are void (<paramref name="received"/> of them came in this run); held ones go back to their pool.</summary>
    internal void Void(int index, long received)
    {
        Held.Release(Chunks[index].Start, Chunks[index].End + 1);
        Ledger.Void(index, received);
    }

    /// <summary>A worker starts fetching a chunk (the one-stream fallback waits until none is in flight).</summary>
    public void BeginFetch() => Interlocked.Increment(ref _inFlight);

    /// <summary>A worker is done with a chunk, whatever the outcome.</summary>
    public void EndFetch()
    {
        Interlocked.Decrement(ref _inFlight);
        _signal.Wake();
    }

    /// <summary>The source ignores Range for this blob: chunks not yet usable come from one stream instead.</summary>
    public void OnRangeNotSupported()
    {
        _rangeNotSupported = true;
        _signal.Wake();
    }

    /// <summary>A transfer of this blob failed and will be tried again: shown on its progress.</summary>
    public void OnRetrying(RetryNotice notice)
    {
        long reused = Reused;
        _progress?.Report(new PullProgress(Descriptor.Digest, reused + Downloaded, Descriptor.Size, TransferState.Running, reused, notice));
    }

    private void Changed()
    {
        long reused = Reused;
        _progress?.Report(new PullProgress(Descriptor.Digest, reused + Downloaded, Descriptor.Size, TransferState.Running, reused));
        _signal.Wake();
    }

    /// <summary>
    /// Hashes the blob in order as its chunks become usable, recording durable chunks in batches meanwhile, until every
    /// byte is hashed; then commits it (the partial checks the digest and keeps nothing that does not match). Runs until
    /// done, failed or cancelled.
    /// </summary>
    /// <param name="refetch">Fetches a chunk again (when a chunk taken from the journal turns out damaged); completes once it is usable.</param>
    /// <param name="stream">Fetches every chunk from the given one on as one stream (the source ignores Range); completes once all are usable.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <exception cref="DigestMismatchException">The blob's bytes do not hash to its digest; nothing of it was stored.</exception>
    public async Task RunAsync(Func<int, CancellationToken, Task> refetch, Func<int, CancellationToken, Task> stream, CancellationToken cancellationToken)
    {
        try
        {
            while (await HashAndCommitAsync(refetch, stream, cancellationToken).ConfigureAwait(false) is { } actual)
            {
                // The whole-blob digest failed. With chunk digests left for the end, check each and fetch the wrong ones again.
                List<int> wrong = VerifiesChunksOnArrival || ChunkDigests is null ? [] : await FindWrongChunksAsync(cancellationToken).ConfigureAwait(false);
                if (wrong.Count == 0)
                {
                    Partial.Discard();
                    string why = ChunkDigests is null
                        ? "Pull again; if this repeats, the registry serves corrupt data"
                        : "every chunk matched the registry's chunksums, so the chunksums do not describe this blob; the registry is at fault";
                    throw new DigestMismatchException($"blob {Descriptor.Digest} ({Descriptor.Size} bytes) arrived with digest {actual}; it was not stored. {why}");
                }

                _verifyOnArrival = true;
                foreach (int index in wrong)
                {
                    Partial.Unrecord(index);
                    Held.Release(Chunks[index].Start, Chunks[index].End + 1);
                    Ledger.Reopen(index);
                }

                _window.Advance(0);
                await Task.WhenAll(wrong.Select(index => refetch(index, cancellationToken))).ConfigureAwait(false);
            }

            _progress?.Report(new PullProgress(Descriptor.Digest, Descriptor.Size, Descriptor.Size, TransferState.Completed, Reused));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _progress?.Report(new PullProgress(Descriptor.Digest, Reused + Downloaded, Descriptor.Size, TransferState.Failed, Reused));
            throw;
        }
    }

    /// <summary>
    /// Hashes the blob in order as its chunks become usable, recording durable chunks meanwhile, then commits it.
    /// Returns null once committed, or the digest found when the bytes do not match (the partial is kept).
    /// </summary>
    private async Task<Digest?> HashAndCommitAsync(Func<int, CancellationToken, Task> refetch, Func<int, CancellationToken, Task> stream, CancellationToken cancellationToken)
    {
        using (var recording = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            Task recordLoop = RecordLoopAsync(recording.Token);
            try
            {
                await _hasher.RunAsync(refetch, () => _rangeNotSupported && Volatile.Read(ref _inFlight) == 0, stream, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await recording.CancelAsync().ConfigureAwait(false);
                await recordLoop.ConfigureAwait(false);
            }
        }

        return Partial.TryCommit(out Digest actual) ? null : actual;
    }

    /// <summary>
    /// The whole-blob digest failed with chunk digests left for the end: checks every chunk in the file against its
    /// digest, a few at once, and returns the ones that do not match.
    /// </summary>
    private async Task<List<int>> FindWrongChunksAsync(CancellationToken cancellationToken)
    {
        var wrong = new ConcurrentBag<int>();
        await Parallel.ForEachAsync(
            Enumerable.Range(0, Chunks.Length),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
            async (index, token) =>
            {
                byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
                try
                {
                    if (!await MatchesInFileAsync(index, buffer, token).ConfigureAwait(false))
                    {
                        wrong.Add(index);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }).ConfigureAwait(false);
        return wrong.Order().ToList();
    }

    /// <summary>
    /// Records chunks in the journal as soon as they become durable: each batch is what became durable during the
    /// previous batch's flush, so the journal trails the bytes by about one flush, and a kill loses little more than
    /// the chunks in flight. Once more at the end.
    /// </summary>
    private async Task RecordLoopAsync(CancellationToken cancellationToken)
    {
        var batch = new List<int>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                _durable.Reset();
                Record(batch);
                await _durable.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: record what is durable so far, below.
        }

        try
        {
            Record(batch);
        }
        catch (StoreException)
        {
            // The pull is failing already; a missed record costs a re-check on resume.
        }
    }

    private void Record(List<int> batch)
    {
        batch.Clear();
        Ledger.TakeDurable(batch);
        long hashed = _window.Hashed; // read before the flush: these bytes are clean after it
        Partial.RecordDurable(batch, hashed);
    }

    public void Dispose()
    {
        Held.Release(0, long.MaxValue);
        Partial.Dispose();
        _signal.Dispose();
        _durable.Dispose();
    }
}
