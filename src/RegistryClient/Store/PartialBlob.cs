using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// A blob being written: one partial file in the store's private folder, owned by one process at a time and named
/// for its blob and its owner (<c>.regc/partial/sha256-&lt;hex&gt;.&lt;owner&gt;.partial</c>), written with
/// positional writes at each chunk's final offset. Only <see cref="CommitVerified"/> moves it into <c>blobs/</c>,
/// and only the caller that has verified the whole digest may call it.
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

    /// <summary>The resume marker's path, beside the partial.</summary>
    public string MarkerPath => System.IO.Path.ChangeExtension(Path, ".marker");

    private string OwnerPath => System.IO.Path.ChangeExtension(Path, ".owner");

    private string ClaimPath => ClaimPathOf(_store, Descriptor.Digest);

    /// <summary>Bytes (from 0) the file held when it was taken over from an earlier pull; 0 for a new file.</summary>
    public long ExistingLength { get; }

    /// <summary>
    /// Takes the blob's partial file for <paramref name="owner"/>: an earlier pull's, when its owner is dead, or a
    /// new one with its size reserved on disk (so a full disk shows at once). Returns null when a live process
    /// owns the blob's partial: the caller waits for that process to commit it, or to die.
    /// </summary>
    /// <exception cref="StoreException">The file cannot be created or space cannot be reserved.</exception>
    public static PartialBlob? TryClaim(ModelStore store, Descriptor descriptor, PartialOwner owner)
    {
        store.EnsureDirectory(store.PartialDirectory);
        string prefix = System.IO.Path.Combine(store.PartialDirectory, descriptor.Digest.FileName);
        try
        {
            if (!TryTakeClaim(ClaimPathOf(store, descriptor.Digest), owner))
            {
                return null;
            }

            string mine = $"{prefix}.{owner.Id}.partial";
            foreach (string candidate in Directory.EnumerateFiles(store.PartialDirectory, descriptor.Digest.FileName + ".*.partial"))
            {
                string id = System.IO.Path.GetFileName(candidate)[(descriptor.Digest.FileName.Length + 1)..^".partial".Length];
                if (!PartialOwner.IsValidId(id))
                {
                    continue;
                }

                if (id == owner.Id && !Active.IsEmpty && Active.ContainsKey(candidate))
                {
                    return null; // Another pull in this process is writing it.
                }

                PartialBlob? taken = id == owner.Id
                    ? TryReopen(store, descriptor, candidate)
                    : TryTakeOver(store, descriptor, owner, candidate, $"{prefix}.{id}", mine);
                if (taken is not null || File.Exists(candidate))
                {
                    return taken; // Taken over, or its owner lives.
                }
            }

            WriteOwner(owner, System.IO.Path.ChangeExtension(mine, ".owner"));
            SafeFileHandle handle = File.OpenHandle(
                mine, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous, descriptor.Size);
            return Activate(new PartialBlob(store, descriptor, mine, handle, 0));
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
            bool hasPartial = store.GetPartialFiles(digest).Any(f => f.EndsWith(".partial", StringComparison.Ordinal));
            if (hasPartial || store.GetBlobSize(digest) is null)
            {
                File.Delete(blob);
                return;
            }

            string mine = System.IO.Path.Combine(store.PartialDirectory, $"{digest.FileName}.{PartialOwner.Current.Id}.partial");
            File.Move(blob, mine);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"cannot move the damaged blob {blob} aside: {e.Message}", e);
        }
    }

    /// <summary>Opens this process's own partial left by an earlier, ended pull; null when it is in use.</summary>
    private static PartialBlob? TryReopen(ModelStore store, Descriptor descriptor, string path)
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

        return Adopt(store, descriptor, path, handle);
    }

    private static PartialBlob Adopt(ModelStore store, Descriptor descriptor, string path, SafeFileHandle handle)
    {
        long length = RandomAccess.GetLength(handle);
        if (length != descriptor.Size)
        {
            RandomAccess.SetLength(handle, descriptor.Size);
        }

        return Activate(new PartialBlob(store, descriptor, path, handle, Math.Min(length, descriptor.Size)));
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
    private static PartialBlob? TryTakeOver(ModelStore store, Descriptor descriptor, PartialOwner owner, string candidate, string theirs, string mine)
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
            if (PartialOwner.IsAlive(theirs + ".owner", candidate))
            {
                handle.Dispose();
                return null;
            }

            WriteOwner(owner, System.IO.Path.ChangeExtension(mine, ".owner"));
            try
            {
                File.Move(candidate, mine);
            }
            catch (FileNotFoundException)
            {
                handle.Dispose();
                return null; // Another process took it first.
            }

            if (File.Exists(theirs + ".marker"))
            {
                File.Move(theirs + ".marker", System.IO.Path.ChangeExtension(mine, ".marker"), overwrite: true);
            }

            File.Delete(theirs + ".owner");
            return Adopt(store, descriptor, mine, handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes the blob's claim file (created with O_EXCL, which is atomic on local file systems and NFS, unlike
    /// advisory locks that some file systems grant to everyone). A claim whose owner is dead is moved aside by rename,
    /// which only one process can do, and taken afresh. False while a live process holds the claim.
    /// </summary>
    private static bool TryTakeClaim(string claim, PartialOwner owner)
    {
        string record = owner.Serialize();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                using SafeFileHandle handle = File.OpenHandle(claim, FileMode.CreateNew, FileAccess.Write);
                RandomAccess.Write(handle, System.Text.Encoding.UTF8.GetBytes(record), 0);
                return true;
            }
            catch (IOException) when (File.Exists(claim))
            {
                string? holder = TryReadText(claim);
                if (holder == record)
                {
                    return true; // This process's own claim (another pull of it is checked by the caller).
                }

                if (PartialOwner.IsAlive(claim, claim))
                {
                    return false;
                }

                string aside = $"{claim}.{owner.Id}.stale";
                try
                {
                    File.Move(claim, aside);
                    File.Delete(aside);
                }
                catch (FileNotFoundException)
                {
                    return false; // Another process moved it first and holds the blob now.
                }
            }
        }

        return false;
    }

    private static string? TryReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string ClaimPathOf(ModelStore store, Digest digest) => System.IO.Path.Combine(store.PartialDirectory, digest.FileName + ".claim");

    /// <summary>Gives up the blob's claim if this owner still holds it.</summary>
    private void ReleaseClaim()
    {
        if (TryReadText(ClaimPath) == PartialOwner.Current.Serialize())
        {
            File.Delete(ClaimPath);
        }
    }

    private static void WriteOwner(PartialOwner owner, string path)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, owner.Serialize());
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Tells other processes this owner is alive (for those on other hosts, which cannot see its process).</summary>
    public void Touch()
    {
        try
        {
            File.SetLastWriteTimeUtc(OwnerPath, DateTime.UtcNow);
            File.SetLastWriteTimeUtc(ClaimPath, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A missing heartbeat only makes another host wait less.
        }
    }

    /// <summary>
    /// Writes bytes at their final offset. Whole aligned blocks of a <see cref="ReceiveBuffer"/> go past the page cache
    /// where the file system allows it (<see cref="DirectIo"/>); everything else, and everything on file systems
    /// that refuse it, through the page cache.
    /// </summary>
    /// <exception cref="StoreException">The write failed (disk full, I/O error); the message names the store.</exception>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, long offset, CancellationToken cancellationToken)
    {
        try
        {
            if (ReceiveBuffer.TryGet(data, out ReceiveBuffer? buffer, out int index) && DirectHandle() is { } direct)
            {
                (int head, int middle) = DirectIo.Split(buffer!.AddressOf(index), offset, data.Length);
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
    /// True once some bytes went past the page cache: read back with <see cref="ReadAsync"/> then, not with
    /// <see cref="TryHashWritten"/> (a mapping would read them from the disk, where a failure is SIGBUS).
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
                _direct = DirectIo.TryOpen(Path);
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

    /// <summary>
    /// Appends bytes [<paramref name="offset"/>, +<paramref name="length"/>) that this process wrote to
    /// <paramref name="hash"/> straight from the page cache; false, with nothing appended, where the file cannot be
    /// mapped (then read them with <see cref="ReadAsync"/>). Not for bytes that may have to come from disk.
    /// </summary>
    public bool TryHashWritten(long offset, int length, IncrementalHash hash) => FileMap.TryAppend(_handle, offset, length, hash);

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

    /// <summary>Lets the kernel drop the cached pages of bytes that are flushed and hashed (they are not read again).</summary>
    public void DropCached(long offset, long length) => PageCache.Drop(_handle, offset, length);

    /// <summary>
    /// Flushes, closes and renames the partial into <c>blobs/</c>. The caller guarantees the content hashes to
    /// the descriptor's digest.
    /// </summary>
    public void CommitVerified()
    {
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
        File.Delete(MarkerPath);
        File.Delete(OwnerPath);
        ReleaseClaim();
    }

    /// <summary>Closes the file and keeps it (and its marker) for a later pull to resume.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            CloseDirect();
            _handle.Dispose();
            ReleaseClaim();
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
