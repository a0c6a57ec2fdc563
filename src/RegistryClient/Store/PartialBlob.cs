using Microsoft.Win32.SafeHandles;
using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// A blob being written: one <c>.partial</c> file in the store's private folder, opened once, written with
/// positional writes at each range's final offset. Only <see cref="CommitVerified"/> moves it into <c>blobs/</c>,
/// and only the caller that has verified the whole digest may call it.
/// </summary>
internal sealed class PartialBlob : IDisposable
{
    private readonly ModelStore _store;
    private readonly SafeFileHandle _handle;

    private PartialBlob(ModelStore store, Descriptor descriptor, string path, SafeFileHandle handle)
    {
        _store = store;
        Descriptor = descriptor;
        Path = path;
        _handle = handle;
    }

    public Descriptor Descriptor { get; }

    public string Path { get; }

    /// <summary>
    /// Creates the partial file afresh, reserving its size on disk so that a full disk shows at once.
    /// The file is locked for this process (advisory), so two writers never share one partial.
    /// </summary>
    /// <exception cref="StoreException">The file cannot be created, space cannot be reserved, or another process holds it.</exception>
    public static PartialBlob Create(ModelStore store, Descriptor descriptor)
    {
        store.EnsureDirectory(store.PartialDirectory);
        string path = store.GetPartialPath(descriptor.Digest);
        try
        {
            SafeFileHandle handle;
            if (File.Exists(path))
            {
                // Lock first (fails if another process holds it), then start over: without a resume record the
                // old bytes cannot be trusted.
                handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous);
                RandomAccess.SetLength(handle, 0);
            }
            else
            {
                handle = File.OpenHandle(
                    path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous, descriptor.Size);
            }

            return new PartialBlob(store, descriptor, path, handle);
        }
        catch (IOException e) when (e is not StoreException)
        {
            throw Translate(e, store, descriptor.Digest, "create the partial file of");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StoreException($"cannot create {path}: {e.Message}", e);
        }
    }

    /// <summary>Writes bytes at their final offset.</summary>
    /// <exception cref="StoreException">The write failed (disk full, I/O error); the message names the store.</exception>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, long offset, CancellationToken cancellationToken)
    {
        try
        {
            await RandomAccess.WriteAsync(_handle, data, offset, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw Translate(e, _store, Descriptor.Digest, "write");
        }
    }

    /// <summary>Reads bytes written earlier (for hashing what has arrived).</summary>
    public int Read(Span<byte> buffer, long offset)
    {
        try
        {
            return RandomAccess.Read(_handle, buffer, offset);
        }
        catch (IOException e)
        {
            throw Translate(e, _store, Descriptor.Digest, "read back");
        }
    }

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

        _handle.Dispose();
        _store.CommitVerifiedBlob(Path, Descriptor.Digest);
    }

    /// <summary>Closes and removes the partial file (after a digest mismatch: its bytes are known bad).</summary>
    public void Discard()
    {
        _handle.Dispose();
        File.Delete(Path);
    }

    public void Dispose() => _handle.Dispose();

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
