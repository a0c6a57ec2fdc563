using System.Buffers;
using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Store;

namespace RegistryClient.Transfer;

/// <summary>
/// One blob being pulled: its partial file, its ranges, and the whole-blob SHA-256 computed in order while the
/// ranges arrive. The hash follows the contiguous written prefix (read back from the page cache), so the blob is
/// verified the moment its last byte lands and is committed into <c>blobs/</c> only if it matches.
/// </summary>
/// <remarks>
/// Each range is written by one worker at a time, which publishes how far it got with <see cref="OnWritten"/>.
/// The hasher task is the only reader of those counters' sum, and the only caller of commit.
/// </remarks>
internal sealed class BlobAssembly : IDisposable
{
    private const int HashBufferSize = 4 << 20;
    private const long FlushEvery = 128L << 20;

    private readonly long[] _written;
    private readonly SemaphoreSlim _signal = new(0); // unbounded: a spare wake-up only costs one empty loop
    private readonly TaskCompletionSource _committed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IProgress<TransferProgress>? _progress;
    private int _pending;
    private long _completed;

    public BlobAssembly(PartialBlob partial, Chunk[] chunks, IProgress<TransferProgress>? progress)
    {
        Partial = partial;
        Chunks = chunks;
        _written = new long[chunks.Length];
        _progress = progress;
    }

    public PartialBlob Partial { get; }

    public Descriptor Descriptor => Partial.Descriptor;

    public Chunk[] Chunks { get; }

    /// <summary>A storage URL a registry redirected this blob to, reused for its later ranges.</summary>
    public Uri? Location { get; set; }

    /// <summary>Completes when the verified blob is in <c>blobs/</c>; faults when it cannot be.</summary>
    public Task Committed => _committed.Task;

    /// <summary>Bytes written so far.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Records that chunk <paramref name="index"/> now has <paramref name="writtenFromStart"/> bytes in place.</summary>
    public void OnWritten(int index, long writtenFromStart, int justWritten)
    {
        Volatile.Write(ref _written[index], writtenFromStart);
        long completed = Interlocked.Add(ref _completed, justWritten);
        _progress?.Report(new TransferProgress(Descriptor.Digest, completed, Descriptor.Size, TransferState.Running));
        if (Interlocked.Exchange(ref _pending, 1) == 0)
        {
            _signal.Release();
        }
    }

    /// <summary>
    /// Hashes the contiguous prefix as it grows until the whole blob is hashed, then commits it or reports the
    /// mismatch. Runs until done, failed or cancelled.
    /// </summary>
    public async Task RunHasherAsync(CancellationToken cancellationToken)
    {
        try
        {
            await HashAndCommitAsync(cancellationToken).ConfigureAwait(false);
            _progress?.Report(new TransferProgress(Descriptor.Digest, Descriptor.Size, Descriptor.Size, TransferState.Completed));
            _committed.TrySetResult();
        }
        catch (OperationCanceledException e)
        {
            _committed.TrySetCanceled(e.CancellationToken);
        }
        catch (Exception e)
        {
            _progress?.Report(new TransferProgress(Descriptor.Digest, Completed, Descriptor.Size, TransferState.Failed));
            _committed.TrySetException(e);
        }
    }

    private async Task HashAndCommitAsync(CancellationToken cancellationToken)
    {
        long size = Descriptor.Size;
        long hashed = 0;
        long flushedAt = 0;
        Task flush = Task.CompletedTask;
        int head = 0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(HashBufferSize, Math.Max(size, 1)));
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            while (hashed < size)
            {
                Interlocked.Exchange(ref _pending, 0);
                long available = ContiguousEnd(ref head);
                if (available <= hashed)
                {
                    await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                while (hashed < available)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int want = (int)Math.Min(buffer.Length, available - hashed);
                    int read = Partial.Read(buffer.AsSpan(0, want), hashed);
                    if (read <= 0)
                    {
                        throw new StoreException($"{Partial.Path} is shorter than the {available} bytes written to it");
                    }

                    hash.AppendData(buffer, 0, read);
                    hashed += read;
                }

                // Start writing back to disk while the download goes on, so the flush before commit is short.
                if (hashed - flushedAt >= FlushEvery && flush.IsCompleted)
                {
                    await flush.ConfigureAwait(false);
                    flushedAt = hashed;
                    flush = Task.Run(Partial.Flush, CancellationToken.None);
                }
            }

            await flush.ConfigureAwait(false);
            Span<byte> actual = stackalloc byte[SHA256.HashSizeInBytes];
            hash.GetHashAndReset(actual);
            if (!Descriptor.Digest.Matches(actual))
            {
                Partial.Discard();
                throw new DigestMismatchException(
                    $"blob {Descriptor.Digest} ({size} bytes) arrived with digest {Digest.FromHash(actual)}; it was not stored. Pull again; if this repeats, the registry serves corrupt data");
            }

            Partial.CommitVerified();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The end of the prefix that is fully written, advancing <paramref name="head"/> past finished chunks.</summary>
    private long ContiguousEnd(ref int head)
    {
        while (head < Chunks.Length && Volatile.Read(ref _written[head]) == Chunks[head].Length)
        {
            head++;
        }

        return head < Chunks.Length ? Chunks[head].Start + Volatile.Read(ref _written[head]) : Descriptor.Size;
    }

    public void Dispose()
    {
        Partial.Dispose();
        _signal.Dispose();
    }
}
