using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// A blob being written: one partial file in the store's private folder, owned by one process at a time and named
/// for its blob and its owner (<see cref="StateFiles"/>), written with positional writes at each chunk's final offset.
/// It owns everything that belongs to the file: the blob's claim, the owner record, the resume journal (which chunks
/// are durable), the whole-blob SHA-256 of the bytes hashed so far in order (<see cref="HashHeld"/>,
/// <see cref="HashFromFileAsync"/>), and the commit: <see cref="Commit"/> moves the file into <c>blobs/</c> only when
/// that hash covers every byte and equals the blob's digest, whatever its caller believes.
/// </summary>
/// <remarks>
/// Ownership does not rest on file locks alone: a process takes over another's partial only when that owner is
/// dead (no lock held, and its owner record names a process that is gone), and takes it by renaming the file to
/// its own name, which only one process can do. Two processes therefore never write one file, even where locks
/// silently do nothing; at worst both download the blob and both commit the same verified bytes.
/// </remarks>
internal sealed class PartialBlob : IDisposable
{
    /// <summary>Partials open in this process (file locks do not separate two pulls of one process on every file system).</summary>
    private static readonly ConcurrentDictionary<string, byte> Active = new(StringComparer.Ordinal);

    private readonly ModelStore _store;
    private readonly SafeFileHandle _handle;
    private readonly PrefixHash _hash = new();
    private ResumeMarker? _journal;
    private long _dropped; // cached pages before this offset were given back
    private readonly Lock _directGate = new();
    private SafeFileHandle? _direct; // the same file past the page cache (DirectIo), opened at the first aligned write
    private bool _directTried;
    private bool _directRefused; // a direct write was refused: the handle stays open (others may be writing) but unused
    private volatile bool _wroteDirect;

    private PartialBlob(ModelStore store, Descriptor descriptor, string path, SafeFileHandle handle, long existingLength)
    {
        _store = store;
        Descriptor = descriptor;
        Path = path;
        _handle = handle;
        ExistingLength = existingLength;
    }

    public Descriptor Descriptor { get; }

    public string Path { get; }

    /// <summary>The resume journal's path, beside the partial.</summary>
    public string JournalPath => StateFiles.Journal(Path);

    private string OwnerPath => StateFiles.Owner(Path);

    /// <summary>Called at each durability stage of the file ("after-flush", "before-commit"), synchronously; null means none.</summary>
    public Action<string>? StageReached { get; init; }

    /// <summary>Whether whole aligned blocks of receive buffers may go past the page cache (<see cref="DirectIo"/>). Default true.</summary>
    public bool DirectWrites { get; init; } = true;

    /// <summary>Bytes (from 0) the file held when it was taken over from an earlier pull; 0 for a new file.</summary>
    public long ExistingLength { get; }

    /// <summary>
    /// Takes the blob's partial file for <paramref name="owner"/>: an earlier pull's, when its owner is dead, or a
    /// new one with its size reserved on disk (so a full disk shows at once). Returns null when a live process
    /// owns the blob's partial: the caller waits for that process to commit it, or to die.
    /// </summary>
    /// <exception cref="StoreException">The file cannot be created or space cannot be reserved.</exception>
    public static PartialBlob? TryClaim(ModelStore store, Descriptor descriptor, PartialOwner owner, Action<string>? stageReached = null, bool directWrites = true)
    {
        store.EnsureDirectory(store.PartialDirectory);
        try
        {
            if (!BlobClaim.TryTake(store, descriptor.Digest, owner))
            {
                return null;
            }

            string mine = StateFiles.Partial(store, descriptor.Digest, owner.Id);
            foreach (string candidate in Directory.EnumerateFiles(store.PartialDirectory, StateFiles.PartialsOf(descriptor.Digest)))
            {
                if (!StateFiles.TryParsePartial(candidate, out Digest digest, out string id) || digest != descriptor.Digest)
                {
                    continue;
                }

                if (id == owner.Id && !Active.IsEmpty && Active.ContainsKey(candidate))
                {
                    return null; // Another pull in this process is writing it.
                }

                PartialBlob? taken = id == owner.Id
                    ? TryReopen(store, descriptor, candidate, stageReached, directWrites)
                    : TryTakeOver(store, descriptor, owner, candidate, mine, stageReached, directWrites);
                if (taken is not null || File.Exists(candidate))
                {
                    return taken; // Taken over, or its owner lives.
                }
            }

            owner.WriteTo(StateFiles.Owner(mine));
            SafeFileHandle handle = File.OpenHandle(
                mine, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous, descriptor.Size);
            return Activate(new PartialBlob(store, descriptor, mine, handle, 0) { StageReached = stageReached, DirectWrites = directWrites });
        }
        catch (IOException e) when (e is not StoreException)
        {
            throw Translate(e, store, descriptor.Digest, "create the partial file of");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StoreException($"cannot create a partial file in {store.PartialDirectory}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Moves a damaged blob out of <c>blobs/</c> into this process's partial slot (same volume, a rename), so the
    /// next fetch of the blob re-hashes its chunks and downloads only those that fail. When a partial of the blob
    /// exists already, the damaged blob is deleted instead. Either way <c>blobs/</c> no longer holds the bad file.
    /// </summary>
    /// <exception cref="StoreException">The blob cannot be moved or deleted.</exception>
    public static void SetAsideDamaged(ModelStore store, Digest digest)
    {
        string blob = store.GetBlobPath(digest);
        try
        {
            store.EnsureDirectory(store.PartialDirectory);
            bool hasPartial = store.GetPartialFiles(digest).Any(StateFiles.IsPartial);
            if (hasPartial || store.GetBlobSize(digest) is null)
            {
                File.Delete(blob);
                return;
            }

            File.Move(blob, StateFiles.Partial(store, digest, PartialOwner.Current.Id));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"cannot move the damaged blob {blob} aside: {e.Message}", e);
        }
    }

    /// <summary>Opens this process's own partial left by an earlier, ended pull; null when it is in use.</summary>
    private static PartialBlob? TryReopen(ModelStore store, Descriptor descriptor, string path, Action<string>? stageReached, bool directWrites)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous);
        }
        catch (IOException)
        {
            return null;
        }

        return Adopt(store, descriptor, path, handle, stageReached, directWrites);
    }

    private static PartialBlob Adopt(ModelStore store, Descriptor descriptor, string path, SafeFileHandle handle, Action<string>? stageReached, bool directWrites)
    {
        long length = RandomAccess.GetLength(handle);
        if (length != descriptor.Size)
        {
            RandomAccess.SetLength(handle, descriptor.Size);
        }

        return Activate(new PartialBlob(store, descriptor, path, handle, Math.Min(length, descriptor.Size)) { StageReached = stageReached, DirectWrites = directWrites });
    }

    /// <summary>Records a partial as in use by this process until it is committed, discarded or closed.</summary>
    private static PartialBlob Activate(PartialBlob partial)
    {
        if (!Active.TryAdd(partial.Path, 0))
        {
            partial._handle.Dispose();
            throw new StoreException($"{partial.Path} is already in use by this process");
        }

        return partial;
    }

    /// <summary>Takes over a dead owner's partial by renaming it; null when its owner lives or another process won.</summary>
    private static PartialBlob? TryTakeOver(ModelStore store, Descriptor descriptor, PartialOwner owner, string candidate, string mine, Action<string>? stageReached, bool directWrites)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(candidate, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (IOException)
        {
            return null; // Locked: its owner is alive.
        }

        try
        {
            if (PartialOwner.IsAlive(StateFiles.Owner(candidate), candidate))
            {
                handle.Dispose();
                return null;
            }

            owner.WriteTo(StateFiles.Owner(mine));
            try
            {
                File.Move(candidate, mine);
            }
            catch (FileNotFoundException)
            {
                handle.Dispose();
                return null; // Another process took it first.
            }

            if (File.Exists(StateFiles.Journal(candidate)))
            {
                File.Move(StateFiles.Journal(candidate), StateFiles.Journal(mine), overwrite: true);
            }

            File.Delete(StateFiles.Owner(candidate));
            return Adopt(store, descriptor, mine, handle, stageReached, directWrites);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Tells other processes this owner is alive (for those on other hosts, which cannot see its process).</summary>
    public void Touch()
    {
        PartialOwner.Touch(OwnerPath);
        BlobClaim.Touch(_store, Descriptor.Digest);
    }

    /// <summary>
    /// Opens the resume journal for a list of <paramref name="chunks"/> chunks (bound to the list's digest, the blob's
    /// size and whether the chunks' digests are known); returns which chunks an earlier pull recorded as durable, or
    /// null when the journal was missing, stale or damaged (it starts empty).
    /// </summary>
    public bool[]? OpenJournal(Digest listDigest, bool verifiedChunks, int chunks)
    {
        _journal?.Dispose();
        _journal = ResumeMarker.Open(JournalPath, Descriptor.Size, listDigest, verifiedChunks, chunks, out bool[]? durable);
        return durable;
    }

    /// <summary>
    /// Records chunks as durable: flushes the file first, so the journal never runs ahead of the data, then marks them,
    /// then gives back the cached pages of the bytes before <paramref name="hashedUpTo"/> (flushed and hashed: never
    /// read again).
    /// </summary>
    /// <exception cref="StoreException">The flush failed.</exception>
    public void RecordDurable(IReadOnlyCollection<int> chunks, long hashedUpTo)
    {
        if (_journal is null || chunks.Count == 0)
        {
            return;
        }

        Flush();
        StageReached?.Invoke("after-flush");
        _journal.Mark(chunks);
        PageCache.Drop(_handle, _dropped, hashedUpTo - _dropped);
        _dropped = Math.Max(_dropped, hashedUpTo);
    }

    /// <summary>Clears a chunk's record (its bytes turned out damaged); written before the chunk is written again.</summary>
    public void Unrecord(int chunk) => _journal?.Unmark(chunk);

    /// <summary>
    /// Writes bytes at their final offset. Whole aligned blocks of a <see cref="ReceiveBuffer"/> go past the page cache
    /// where the file system allows it (<see cref="DirectIo"/>); everything else, and everything on file systems
    /// that refuse it, through the page cache.
    /// </summary>
    /// <exception cref="StoreException">The write failed (disk full, I/O error); the message names the store.</exception>
    public ValueTask WriteAsync(ReceiveLease lease, long offset, CancellationToken cancellationToken) =>
        WriteAsync(lease.Memory, offset, lease, cancellationToken);

    /// <summary>Writes bytes (not in a receive buffer) at their final offset, through the page cache.</summary>
    /// <exception cref="StoreException">The write failed (disk full, I/O error); the message names the store.</exception>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, long offset, CancellationToken cancellationToken) =>
        WriteAsync(data, offset, null, cancellationToken);

    private async ValueTask WriteAsync(ReadOnlyMemory<byte> data, long offset, ReceiveLease? lease, CancellationToken cancellationToken)
    {
        try
        {
            if (lease is { } held && DirectHandle() is { } direct)
            {
                (int head, int middle) = DirectIo.Split(held.Buffer.AddressOf(held.Start), offset, data.Length);
                if (middle > 0)
                {
                    if (head > 0)
                    {
                        await RandomAccess.WriteAsync(_handle, data[..head], offset, cancellationToken).ConfigureAwait(false);
                    }

                    await WriteDirectAsync(direct, data.Slice(head, middle), offset + head, cancellationToken).ConfigureAwait(false);
                    data = data[(head + middle)..];
                    offset += head + middle;
                    if (data.IsEmpty)
                    {
                        return;
                    }
                }
            }

            await RandomAccess.WriteAsync(_handle, data, offset, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw Translate(e, _store, Descriptor.Digest, "write");
        }
    }

    /// <summary>
    /// True once some bytes went past the page cache: <see cref="HashFromFileAsync"/> then reads them back rather than
    /// map them (a mapping would read them from the disk, where a failure is SIGBUS).
    /// </summary>
    public bool WroteDirect => _wroteDirect;

    private async ValueTask WriteDirectAsync(SafeFileHandle direct, ReadOnlyMemory<byte> data, long offset, CancellationToken cancellationToken)
    {
        try
        {
            await RandomAccess.WriteAsync(direct, data, offset, cancellationToken).ConfigureAwait(false);
            _wroteDirect = true;
        }
        catch (IOException e) when (DirectIo.IsRefusal(e))
        {
            // The file system or the device will not take these (a larger block size, no O_DIRECT for writes):
            // the page cache from now on. The handle is closed with the file, as other writes may be using it.
            lock (_directGate)
            {
                _directRefused = true;
            }

            await RandomAccess.WriteAsync(_handle, data, offset, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The direct handle, opened on first use; null where direct writes are off, impossible or refused.</summary>
    private SafeFileHandle? DirectHandle()
    {
        lock (_directGate)
        {
            if (!_directTried && !_handle.IsClosed)
            {
                _directTried = true;
                _direct = DirectWrites ? DirectIo.TryOpen(Path) : null;
            }

            return _directRefused ? null : _direct;
        }
    }

    private void CloseDirect()
    {
        lock (_directGate)
        {
            _direct?.Dispose();
            _direct = null;
            _directTried = true;
        }
    }

    /// <summary>Reads bytes written earlier (for hashing what has arrived, and checking a taken-over partial's chunks).</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, long offset, CancellationToken cancellationToken)
    {
        try
        {
            return await RandomAccess.ReadAsync(_handle, buffer, offset, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw Translate(e, _store, Descriptor.Digest, "read back");
        }
    }

    /// <summary>Bytes of the blob hashed so far, in order from its first (see <see cref="HashHeld"/>).</summary>
    public long HashedLength => _hash.Length;

    /// <summary>
    /// Hashes the blob's next bytes, held in memory since they were written to the file at <see cref="HashedLength"/>
    /// (also into <paramref name="alsoInto"/>, for a chunk's own digest).
    /// </summary>
    public void HashHeld(ReadOnlySpan<byte> bytes, IncrementalHash? alsoInto)
    {
        _hash.Append(bytes);
        alsoInto?.AppendData(bytes);
    }

    /// <summary>
    /// Hashes the blob's next <paramref name="length"/> bytes from the file (also into <paramref name="alsoInto"/>): in
    /// place from the page cache when this process wrote them there (<paramref name="mayMap"/>, and nothing went past
    /// the page cache), else read into <paramref name="buffer"/>.
    /// </summary>
    /// <exception cref="StoreException">The file is shorter than its bytes written, or cannot be read.</exception>
    public async Task HashFromFileAsync(long length, byte[] buffer, bool mayMap, IncrementalHash? alsoInto, CancellationToken cancellationToken)
    {
        long end = _hash.Length + length;
        while (_hash.Length < end)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long position = _hash.Length;
            int want = (int)Math.Min(buffer.Length, end - position);
            if (mayMap && alsoInto is null && !WroteDirect && FileMap.TryAppend(_handle, position, want, _hash.State))
            {
                _hash.Advanced(want);
                continue;
            }

            int read = await ReadAsync(buffer.AsMemory(0, want), position, cancellationToken).ConfigureAwait(false);
            if (read <= 0)
            {
                throw new StoreException($"{Path} is shorter than the {end} bytes written to it");
            }

            HashHeld(buffer.AsSpan(0, read), alsoInto);
        }
    }

    /// <summary>The whole-blob hash at this point, to go back to if the bytes hashed after it are thrown away.</summary>
    public PrefixHash.Saved SaveHash() => _hash.Save();

    /// <summary>Goes back to a saved whole-blob hash.</summary>
    public void RestoreHash(PrefixHash.Saved saved) => _hash.Restore(saved);

    /// <summary>Makes what was written durable (fdatasync).</summary>
    public void Flush()
    {
        try
        {
            RandomAccess.FlushToDisk(_handle);
        }
        catch (IOException e)
        {
            throw Translate(e, _store, Descriptor.Digest, "flush");
        }
    }

    /// <summary>
    /// Moves the partial into <c>blobs/</c> if, and only if, the whole-blob hash covers all of its bytes and equals the
    /// blob's digest: flushed, closed, renamed, and its journal, owner record and claim removed. Otherwise the file is
    /// discarded (its bytes are known bad) and nothing reaches <c>blobs/</c>.
    /// </summary>
    /// <exception cref="DigestMismatchException">The bytes do not hash to the digest; the partial is gone.</exception>
    /// <exception cref="StoreException">Not every byte was hashed, or the file changed size; nothing was committed.</exception>
    public void Commit()
    {
        if (!TryCommit(out Digest actual))
        {
            Discard();
            throw new DigestMismatchException($"blob {Descriptor.Digest} ({Descriptor.Size} bytes) arrived with digest {actual}; it was not stored");
        }
    }

    /// <summary>
    /// As <see cref="Commit"/>, but when the bytes do not hash to the digest, keeps the partial (to find and fetch again
    /// the chunks that are wrong) and returns false with the digest found; the whole-blob hash then starts over.
    /// </summary>
    /// <exception cref="StoreException">Not every byte was hashed, or the file changed size; nothing was committed.</exception>
    public bool TryCommit(out Digest actual)
    {
        if (_hash.Length != Descriptor.Size)
        {
            throw new StoreException($"{Descriptor.Digest.Short}: {_hash.Length} of its {Descriptor.Size} bytes were hashed; not committing it");
        }

        byte[] hash = _hash.Finish(); // the hash starts over from the blob's first byte
        actual = Digest.FromHash(hash);
        if (!Descriptor.Digest.Matches(hash))
        {
            return false;
        }

        StageReached?.Invoke("before-commit");
        Flush();
        long length = RandomAccess.GetLength(_handle);
        if (length != Descriptor.Size)
        {
            // Preallocation keeps the length at what was written; anything else means the file changed under us.
            throw new StoreException($"{Path} is {length} bytes, expected {Descriptor.Size}; not committing {Descriptor.Digest.Short}");
        }

        PageCache.Drop(_handle, 0, length); // flushed, so clean: a pull leaves no blob in the page cache
        CloseDirect();
        _handle.Dispose();
        _store.CommitVerifiedBlob(Path, Descriptor.Digest);
        RemoveCompanions();
        Active.TryRemove(Path, out _);
        return true;
    }

    /// <summary>Closes and removes the partial file (after a digest mismatch: its bytes are known bad).</summary>
    public void Discard()
    {
        CloseDirect();
        _handle.Dispose();
        File.Delete(Path);
        RemoveCompanions();
        Active.TryRemove(Path, out _);
    }

    private void RemoveCompanions()
    {
        if (_journal is not null)
        {
            _journal.Delete();
            _journal = null;
        }
        else
        {
            File.Delete(JournalPath);
        }

        File.Delete(OwnerPath);
        BlobClaim.Release(_store, Descriptor.Digest, PartialOwner.Current);
        _hash.Dispose();
    }

    /// <summary>Closes the file and keeps it (and its journal) for a later pull to resume.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            _journal?.Dispose();
            _journal = null;
            CloseDirect();
            _handle.Dispose();
            BlobClaim.Release(_store, Descriptor.Digest, PartialOwner.Current);
            _hash.Dispose();
            Active.TryRemove(Path, out _);
        }
    }

    internal static bool IsDiskFull(IOException e) =>
        e.HResult is 28 or unchecked((int)0x80070070) or unchecked((int)0x80070027)
        || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase);

    private static StoreException Translate(IOException e, ModelStore store, Digest digest, string action)
    {
        if (IsDiskFull(e))
        {
            return new StoreException(
                $"disk full: cannot {action} {digest.Short} in the model store {store.Root}; free some space and pull again (downloaded data is kept)", e);
        }

        if (e.HResult == 11 || e.Message.Contains("being used by another process", StringComparison.OrdinalIgnoreCase))
        {
            return new StoreException($"another process is downloading {digest.Short} into {store.Root}; wait for it or stop it", e);
        }

        return new StoreException($"cannot {action} {digest.Short} in the model store {store.Root}: {e.Message}", e);
    }
}
