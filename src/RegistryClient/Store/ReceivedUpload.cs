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

    private ReceivedUpload(ModelStore store, string id, string path, long length, bool fresh)
    {
        _store = store;
        Id = id;
        _path = path;
        Length = length;
        if (fresh)
        {
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        }
    }

    /// <summary>The session's id: 32 lower-case hex digits.</summary>
    public string Id { get; }

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
    /// Appends everything <paramref name="body"/> yields. When the body ends early (the client went away) or a write
    /// fails, the bytes already written stay and <see cref="Length"/> says how many the session holds.
    /// </summary>
    /// <returns>How many bytes this call appended.</returns>
    public async Task<long> AppendAsync(Stream body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        long before = Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        var file = new FileStream(_path, FileMode.Open, FileAccess.Write, FileShare.Read, 1, FileOptions.Asynchronous);
        try
        {
            file.Position = Length;
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
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
            await file.DisposeAsync().ConfigureAwait(false);
            long held = new FileInfo(_path).Length;
            if (held != Length || _hashed != Length)
            {
                // A write failed part-way: the file decides, and the hash is made again from it at the end.
                Length = held;
                DropHash();
            }
        }

        return Length - before;
    }

    /// <summary>
    /// Ends the session: the bytes must hash to <paramref name="expected"/>, then they are flushed and moved into
    /// <c>blobs/</c>. Bytes that do not match are discarded with the session.
    /// </summary>
    /// <exception cref="DigestMismatchException">The session's bytes are not <paramref name="expected"/>; the session is gone.</exception>
    public async Task CommitAsync(Digest expected, CancellationToken cancellationToken)
    {
        Digest actual;
        if (_hash is not null && _hashed == Length)
        {
            Span<byte> result = stackalloc byte[SHA256.HashSizeInBytes];
            _hash.GetHashAndReset(result);
            DropHash();
            actual = Digest.FromHash(result);
        }
        else
        {
            var read = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (read.ConfigureAwait(false))
            {
                actual = Digest.FromHash(await SHA256.HashDataAsync(read, cancellationToken).ConfigureAwait(false));
            }
        }

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

        using (var flush = new FileStream(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1))
        {
            flush.Flush(flushToDisk: true);
        }

        _store.CommitVerifiedBlob(_path, expected);
    }

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
