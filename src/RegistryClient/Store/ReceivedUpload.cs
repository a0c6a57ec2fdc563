using System.Buffers;
using System.Security.Cryptography;
using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// A blob a registry server receives (the push side of the distribution API): bytes appended in order to
/// <c>.regc/receive/&lt;id&gt;.upload</c>, hashed as they arrive, and moved into <c>blobs/</c> only when they hash to the
/// digest the client names at the end. Its length is what the file holds: a body cut short keeps the bytes that
/// arrived, and a client that asks where the session stands is told exactly that, so it sends only the rest.
/// One request at a time: the caller serialises the calls on one session.
/// </summary>
public sealed class ReceivedUpload : IDisposable
{
    private const int BufferSize = 1 << 20;

    private readonly ModelStore _store;
    private readonly string _path;
    private IncrementalHash? _hash; // null when it no longer matches the file (a restart, a failed write): the commit reads the file
    private long _hashed;
    private DateTime _stamp; // the file's last write time when this process last wrote or opened it

    private ReceivedUpload(ModelStore store, string id, string path, long length, bool fresh)
    {
        _store = store;
        Id = id;
        _path = path;
        Length = length;
        _stamp = File.GetLastWriteTimeUtc(path);
        if (fresh)
        {
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        }
    }

    /// <summary>The session's id: 32 lower-case hex digits.</summary>
    public string Id { get; }

    /// <summary>True while the session's file is there (not finished or cancelled, here or by another process).</summary>
    public bool Exists => File.Exists(_path);

    /// <summary>How many bytes the session holds.</summary>
    public long Length { get; private set; }

    /// <summary><c>&lt;root&gt;/.regc/receive</c>: where the sessions of a serving store keep their bytes.</summary>
    public static string Directory(ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return Path.Combine(store.StateDirectory, "receive");
    }

    /// <summary>Opens a new, empty session.</summary>
    /// <exception cref="StoreException">The store is not writable.</exception>
    public static ReceivedUpload Start(ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        string id = Guid.NewGuid().ToString("N");
        string path = PathOf(store, id);
        try
        {
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"cannot start an upload in {store.Root}: {e.Message}", e);
        }

        return new ReceivedUpload(store, id, path, 0, fresh: true);
    }

    /// <summary>A session started earlier (by this process or one before it); null when the id is malformed or unknown.</summary>
    public static ReceivedUpload? Open(ModelStore store, string id)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!IsValidId(id))
        {
            return null;
        }

        var info = new FileInfo(PathOf(store, id));
        return info.Exists && info.LinkTarget is null ? new ReceivedUpload(store, id, info.FullName, info.Length, fresh: false) : null;
    }

    /// <summary>True for 32 lower-case hex digits, the only ids sessions have.</summary>
    public static bool IsValidId(string? id) => id is { Length: 32 } && id.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    /// <summary>Removes sessions untouched for longer than <paramref name="maxAge"/> (clients gave them up); returns how many.</summary>
    public static int RemoveStale(ModelStore store, TimeSpan maxAge)
    {
        string directory = Directory(store);
        if (!System.IO.Directory.Exists(directory))
        {
            return 0;
        }

        int removed = 0;
        foreach (string file in System.IO.Directory.EnumerateFiles(directory, "*.upload"))
        {
            try
            {
                if (DateTime.UtcNow - File.GetLastWriteTimeUtc(file) > maxAge)
                {
                    File.Delete(file);
                    removed++;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Still in use or already gone: the next start looks again.
            }
        }

        return removed;
    }

    /// <summary>
    /// Appends everything <paramref name="body"/> yields. When the body ends early (the client went away), the bytes
    /// already written stay and <see cref="Length"/> says how many the session holds. The file is held exclusively
    /// meanwhile (another process serving the same store cannot write it at the same time), and what another process
    /// wrote since this one last looked is taken as it is, with the hash made again from the file at the end.
    /// </summary>
    /// <param name="body">The bytes.</param>
    /// <param name="expectedStart">Where the client says they go (its <c>Content-Range</c>), checked once the file is held; null appends.</param>
    /// <param name="cancellationToken">Stops reading the body; what was written stays.</param>
    /// <returns>How many bytes this call appended.</returns>
    /// <exception cref="UploadInUseException">Another process is writing the session now, or it moved on since it was checked.</exception>
    /// <exception cref="StoreException">The bytes cannot be written (a full disk).</exception>
    public async Task<long> AppendAsync(Stream body, long? expectedStart, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        FileStream file = OpenExclusive(FileAccess.Write);
        long before;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            Adopt(file);
            before = Length;
            if (expectedStart is { } start && start != Length)
            {
                throw new UploadInUseException($"the upload moved on meanwhile: it holds {Length} bytes, not {start}");
            }

            file.Position = Length;
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                try
                {
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw new StoreException($"cannot write the upload into {_store.Root}: {e.Message}", e);
                }

                if (_hash is not null && _hashed == Length)
                {
                    _hash.AppendData(buffer, 0, read);
                    _hashed += read;
                }

                Length += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            long held = file.Length;
            await file.DisposeAsync().ConfigureAwait(false);
            if (held != Length || _hashed != Length)
            {
                // A write failed part-way: the file decides, and the hash is made again from it at the end.
                Length = held;
                DropHash();
            }

            _stamp = Stamp();
        }

        return Length - before;
    }

    /// <summary>
    /// Ends the session: the bytes must hash to <paramref name="expected"/>, then they are flushed and moved into
    /// <c>blobs/</c>, all under the exclusive hold of the file. Bytes that do not match are discarded with the session.
    /// </summary>
    /// <exception cref="DigestMismatchException">The session's bytes are not <paramref name="expected"/>; the session is gone.</exception>
    /// <exception cref="UploadInUseException">Another process is writing the session now.</exception>
    public async Task CommitAsync(Digest expected, CancellationToken cancellationToken)
    {
        Digest actual;
        FileStream file = OpenExclusive(FileAccess.ReadWrite);
        await using (file.ConfigureAwait(false))
        {
            Adopt(file);
            if (_hash is not null && _hashed == Length)
            {
                Span<byte> result = stackalloc byte[SHA256.HashSizeInBytes];
                _hash.GetHashAndReset(result);
                actual = Digest.FromHash(result);
            }
            else
            {
                file.Position = 0;
                actual = Digest.FromHash(await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false));
            }

            DropHash();
            if (actual != expected)
            {
                Cancel();
                throw new DigestMismatchException($"the upload's {Length} bytes hash to {actual}, not {expected}");
            }

            if (_store.GetBlobSize(expected) == Length)
            {
                Cancel(); // the store has it already: same digest, same bytes
                return;
            }

            file.Flush(flushToDisk: true);
            _store.CommitVerifiedBlob(_path, expected); // moved while held: nobody can be writing it
        }
    }

    /// <summary>Takes what another process wrote since this one last looked (its length and the hash to make again); call before checking a client's offset.</summary>
    public void Refresh()
    {
        var info = new FileInfo(_path);
        if (info.Exists && (info.Length != Length || info.LastWriteTimeUtc != _stamp))
        {
            Length = info.Length;
            DropHash();
        }
    }

    /// <summary>Opens the session's file for this process alone.</summary>
    private FileStream OpenExclusive(FileAccess access)
    {
        try
        {
            return new FileStream(_path, FileMode.Open, access, FileShare.None, 1, FileOptions.Asynchronous);
        }
        catch (FileNotFoundException e)
        {
            throw new UploadInUseException("the upload was finished or cancelled meanwhile", e);
        }
        catch (IOException e) when (ModelStore.IsHeldElsewhere(e))
        {
            throw new UploadInUseException("another request is writing this upload", e);
        }
    }

    /// <summary>What another process wrote since this one last looked is the session's now; the hash is made again at the end.</summary>
    private void Adopt(FileStream file)
    {
        if (file.Length != Length || Stamp() != _stamp)
        {
            Length = file.Length;
            DropHash();
        }
    }

    private DateTime Stamp() => File.GetLastWriteTimeUtc(_path);

    /// <summary>Forgets the session and its bytes.</summary>
    public void Cancel()
    {
        DropHash();
        try
        {
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for RemoveStale.
        }
    }

    /// <inheritdoc/>
    public void Dispose() => DropHash();

    private void DropHash()
    {
        _hash?.Dispose();
        _hash = null;
        _hashed = -1;
    }

    private static string PathOf(ModelStore store, string id) => Path.Combine(Directory(store), id + ".upload");
}
