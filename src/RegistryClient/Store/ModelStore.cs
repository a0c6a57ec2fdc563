using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Names;

namespace RegistryClient.Store;

/// <summary>
/// An Ollama-compatible model store: <c>blobs/sha256-&lt;hex&gt;</c> for complete, verified blobs and
/// <c>manifests/&lt;host&gt;/&lt;namespace&gt;/&lt;model&gt;/&lt;tag&gt;</c> for manifest bytes as served.
/// Everything else this project keeps (partial blobs, temporary files) lives in <c>.regc/</c> under the root.
/// </summary>
/// <remarks>
/// Paths are built only from a parsed <see cref="Digest"/> or a validated <see cref="ModelName"/>.
/// Directories are created one component at a time and a component that is a symbolic link is
/// refused, so nothing is ever written outside the root. Thread-safe: the type holds no mutable state.
/// </remarks>
public sealed class ModelStore
{
    /// <summary>The folder under the root that holds this project's private state.</summary>
    public const string StateFolderName = ".regc";

    /// <summary>Opens (without creating) the store at <paramref name="root"/>, laid out as <paramref name="layout"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="root"/> is empty.</exception>
    public ModelStore(string root, StoreLayout layout = StoreLayout.Ollama)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        _layout = LayoutStrategy.For(layout);
        BlobsDirectory = _layout.BlobsDirectory(Root);
        ManifestsDirectory = Path.Combine(Root, "manifests");
        StateDirectory = Path.Combine(Root, StateFolderName);
        PartialDirectory = Path.Combine(StateDirectory, "partial");
        TempDirectory = Path.Combine(StateDirectory, "tmp");
        ChunkSumsDirectory = Path.Combine(StateDirectory, "chunksums");
        FingerprintsDirectory = Path.Combine(StateDirectory, "fingerprints");
    }

    /// <summary>The store's root folder (absolute).</summary>
    public string Root { get; }

    private readonly LayoutStrategy _layout;

    /// <summary>How blobs and manifests are laid out.</summary>
    public StoreLayout Layout => _layout.Kind;

    /// <summary>True when each manifest is itself a blob of the store (an OCI layout): it counts as a blob for pruning and verifying.</summary>
    public bool ManifestsAreBlobs => _layout.ManifestsAreBlobs;

    /// <summary><c>&lt;root&gt;/blobs</c> (Ollama) or <c>&lt;root&gt;/blobs/sha256</c> (OCI): the folder of complete blobs.</summary>
    public string BlobsDirectory { get; }

    /// <summary><c>&lt;root&gt;/manifests</c>.</summary>
    public string ManifestsDirectory { get; }

    /// <summary><c>&lt;root&gt;/.regc</c>: partials, markers, sidecars and temporary files.</summary>
    public string StateDirectory { get; }

    /// <summary><c>&lt;root&gt;/.regc/partial</c>: blobs being downloaded.</summary>
    public string PartialDirectory { get; }

    /// <summary><c>&lt;root&gt;/.regc/tmp</c>: files being written before an atomic rename.</summary>
    public string TempDirectory { get; }

    /// <summary><c>&lt;root&gt;/.regc/chunksums</c>: chunk digest lists of complete blobs (<c>sha256-&lt;hex&gt;.&lt;chunk size&gt;</c>).</summary>
    public string ChunkSumsDirectory { get; }

    /// <summary>The sidecar path for a blob's chunk digests at one chunk size.</summary>
    public string GetChunkSumsPath(Digest digest, long chunkSize) =>
        Path.Combine(ChunkSumsDirectory, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{digest.FileName}.{chunkSize}"));

    /// <summary>
    /// Keeps the chunk list of a complete blob whose digests were proven (by the whole digest, or computed from the
    /// blob's own bytes), as a sidecar at its chunk size. Best effort: false when the store cannot be written (a
    /// read-only store still works without it).
    /// </summary>
    public async Task<bool> TryKeepChunkListAsync(Digest digest, ChunkList list, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(list);
        try
        {
            EnsureDirectory(ChunkSumsDirectory);
            await WriteAtomicallyAsync(GetChunkSumsPath(digest, list.ChunkSize), list.ToBytes(), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The kept chunk list of a blob of <paramref name="size"/> bytes at <paramref name="chunkSize"/> (null: the first
    /// sidecar that fits, at any chunk size), or null when none is kept, readable and valid for that size.
    /// </summary>
    public ChunkList? TryReadChunkList(Digest digest, long size, long? chunkSize = null)
    {
        IEnumerable<string> candidates = chunkSize is { } only ? [GetChunkSumsPath(digest, only)] : GetChunkSumsFiles(digest);
        foreach (string sidecar in candidates)
        {
            try
            {
                var info = new FileInfo(sidecar);
                if (!info.Exists || info.LinkTarget is not null || info.Length > ChunkList.MaxBodyBytes)
                {
                    continue;
                }

                return ChunkList.Parse(File.ReadAllBytes(sidecar), size, digest);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Unreadable, damaged or not fitting the blob (InvalidChunkListException is an IOException): try the next.
            }
        }

        return null;
    }

    /// <summary>
    /// Hashes a complete blob chunk by chunk (SHA-256 of each <paramref name="chunkSize"/> bytes) and returns its list,
    /// checking in the same pass that the whole blob still hashes to its name: a list is never made from damaged bytes.
    /// </summary>
    /// <exception cref="IOException">The blob is shorter than <paramref name="size"/>, or cannot be read.</exception>
    /// <exception cref="DigestMismatchException">The blob no longer hashes to its name (run regc verify).</exception>
    public ChunkList ComputeChunkList(Digest digest, long size, long chunkSize, CancellationToken cancellationToken = default)
    {
        const int ReadBufferSize = 1 << 20;
        var chunks = new List<ChunkSum>();
        string path = GetBlobPath(digest);
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        try
        {
            using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (long start = 0; start < size; start += chunkSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long end = Math.Min(start + chunkSize, size) - 1;
                for (long offset = start; offset <= end;)
                {
                    int read = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(ReadBufferSize, end - offset + 1)), offset);
                    if (read == 0)
                    {
                        throw new IOException($"{path} ended at byte {offset} while its size is {size}");
                    }

                    hash.AppendData(buffer, 0, read);
                    whole.AppendData(buffer, 0, read);
                    offset += read;
                }

                chunks.Add(new ChunkSum(Digest.FromHash(hash.GetHashAndReset()), new Chunk(start, end)));
            }

            if (Digest.FromHash(whole.GetHashAndReset()) is var actual && actual != digest)
            {
                throw new DigestMismatchException($"{path} hashes to {actual}, not its name; the store's copy is damaged (run regc verify)");
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        return ChunkList.Parse(System.Text.Encoding.ASCII.GetBytes(ChunkList.Format(chunks)), size, digest);
    }

    /// <summary>The chunk digest sidecars kept for a blob (any chunk size).</summary>
    public IReadOnlyList<string> GetChunkSumsFiles(Digest digest) =>
        Directory.Exists(ChunkSumsDirectory)
            ? Directory.GetFiles(ChunkSumsDirectory, digest.FileName + ".*").Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary><c>&lt;root&gt;/.regc/push</c>: where uploads to registries stand, so an interrupted push continues.</summary>
    public string UploadsDirectory => Path.Combine(StateDirectory, "push");

    /// <summary>The recorded upload of <paramref name="digest"/> to <paramref name="target"/>'s repository; null when none is kept or it cannot be read.</summary>
    public UploadRecord? TryReadUploadRecord(ModelName target, Digest digest)
    {
        ArgumentNullException.ThrowIfNull(target);
        string path = StateFiles.UploadRecord(this, target.Host, target.Repository, digest);
        try
        {
            var info = new FileInfo(path);
            return info.Exists && info.LinkTarget is null && info.Length <= UploadRecord.MaxBytes ? UploadRecord.Parse(File.ReadAllText(path)) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Records (atomically) where the upload of <paramref name="digest"/> to <paramref name="target"/>'s repository stands.</summary>
    public async Task KeepUploadRecordAsync(ModelName target, Digest digest, UploadRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(record);
        string path = StateFiles.UploadRecord(this, target.Host, target.Repository, digest);
        EnsureDirectory(Path.GetDirectoryName(path)!);
        // Not flushed to disk: a record lost to a power cut costs that blob's upload again, while a flush after every
        // chunk costs every push time.
        await WriteAtomicallyAsync(path, System.Text.Encoding.UTF8.GetBytes(record.Format()), cancellationToken, durable: false).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes the store's lock on uploading <paramref name="digest"/> to <paramref name="target"/>'s repository, waiting
    /// while another push (in this process or another) holds it, so two pushes never write into one upload session. The
    /// lock is a file held open exclusively (<c>…/sha256-&lt;hex&gt;.lock</c>, left in place); a process that dies lets go.
    /// </summary>
    /// <param name="target">The repository pushed to.</param>
    /// <param name="digest">The blob.</param>
    /// <param name="waiting">Called once when the lock is held by another push and this one waits.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The lock; dispose it to let go.</returns>
    public async Task<IDisposable> LockUploadAsync(ModelName target, Digest digest, Action? waiting = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        string path = StateFiles.UploadRecord(this, target.Host, target.Repository, digest) + ".lock";
        try
        {
            EnsureDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return NoLock.Instance; // a store this user cannot write (a system-wide one): pushes from it just do not take turns
        }

        bool told = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
            }
            catch (Exception e) when (e is UnauthorizedAccessException || (e is IOException io && !IsHeldElsewhere(io)))
            {
                return NoLock.Instance; // not a lock held by another push, but a store that cannot hold one
            }
            catch (IOException)
            {
                // Held by another push of the same blob to the same repository.
                if (!told)
                {
                    told = true;
                    waiting?.Invoke();
                }

                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// True when an open failed because another handle holds the file (.NET's FileShare lock: EWOULDBLOCK from flock on
    /// Linux and macOS, ERROR_SHARING_VIOLATION on Windows).
    /// </summary>
    internal static bool IsHeldElsewhere(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020);

    /// <summary>The lock of a store that cannot hold one: nothing to let go.</summary>
    private sealed class NoLock : IDisposable
    {
        public static readonly NoLock Instance = new();

        public void Dispose()
        {
        }
    }

    /// <summary>Forgets the upload of <paramref name="digest"/> to <paramref name="target"/>'s repository (it finished, or its session is gone).</summary>
    public void DeleteUploadRecord(ModelName target, Digest digest)
    {
        ArgumentNullException.ThrowIfNull(target);
        string path = StateFiles.UploadRecord(this, target.Host, target.Repository, digest);
        try
        {
            if (File.Exists(path))
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A record left behind is asked about next time and found gone: harmless.
        }
    }

    /// <summary><c>&lt;root&gt;/.regc/fingerprints</c>: fingerprints of proven blobs, for <c>regc verify --fast</c> (<see cref="BlobFingerprints"/>).</summary>
    public string FingerprintsDirectory { get; }

    /// <summary>Where a blob's fingerprints are kept.</summary>
    public string GetFingerprintsPath(Digest digest) => Path.Combine(FingerprintsDirectory, digest.FileName);

    /// <summary>
    /// Keeps the fingerprints of a blob just proven by its SHA-256. Best effort: false when the store cannot be
    /// written (the blob is then checked by its SHA-256 next time).
    /// </summary>
    public async Task<bool> TryKeepFingerprintsAsync(Digest digest, BlobFingerprints fingerprints, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fingerprints);
        try
        {
            EnsureDirectory(FingerprintsDirectory);
            await WriteAtomicallyAsync(GetFingerprintsPath(digest), fingerprints.ToBytes(), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The kept fingerprints of a blob of <paramref name="size"/> bytes; null when none are kept, readable and intact for that size.</summary>
    public BlobFingerprints? TryReadFingerprints(Digest digest, long size)
    {
        try
        {
            var info = new FileInfo(GetFingerprintsPath(digest));
            return info.Exists && info.LinkTarget is null && info.Length <= 64 + (16L * BlobFingerprints.PieceCount(size))
                ? BlobFingerprints.TryParse(File.ReadAllBytes(info.FullName), size)
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Everything kept in <c>.regc/</c> about a complete blob: its chunk digest sidecars and its fingerprints.</summary>
    public IReadOnlyList<string> GetSidecarFiles(Digest digest) =>
        [.. GetChunkSumsFiles(digest), .. File.Exists(GetFingerprintsPath(digest)) ? [GetFingerprintsPath(digest)] : Array.Empty<string>()];

    /// <summary>
    /// The store root to use: <paramref name="explicitRoot"/> when given, else <c>$OLLAMA_MODELS</c>,
    /// else <c>~/.ollama/models</c>.
    /// </summary>
    /// <exception cref="StoreException">No store is given and the home folder is unknown or missing.</exception>
    public static string ResolveRoot(string? explicitRoot)
    {
        if (!string.IsNullOrWhiteSpace(explicitRoot))
        {
            return Path.GetFullPath(explicitRoot);
        }

        string? fromEnvironment = Environment.GetEnvironmentVariable("OLLAMA_MODELS");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return Path.GetFullPath(fromEnvironment);
        }

        string? home = OperatingSystem.IsWindows()
            ? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile)
            : Environment.GetEnvironmentVariable("HOME");
        if (string.IsNullOrWhiteSpace(home) || !Path.IsPathFullyQualified(home) || !Directory.Exists(home))
        {
            // Never fall back to a relative ./.ollama/models in whatever folder the command runs in.
            string why = string.IsNullOrWhiteSpace(home) ? "$HOME is not set" : $"the home folder {home} does not exist";
            throw new StoreException($"no model store: {why}; pass --models DIR or set OLLAMA_MODELS");
        }

        return Path.Combine(home, ".ollama", "models");
    }

    /// <summary>Opens the store at <paramref name="root"/>: an OCI layout when it holds an <c>oci-layout</c> file, else an Ollama store.</summary>
    public static ModelStore Open(string root) =>
        new(root, File.Exists(Path.Combine(root, OciIndex.LayoutFileName)) ? StoreLayout.Oci : StoreLayout.Ollama);

    /// <summary>The path of a complete blob: <c>blobs/sha256-&lt;hex&gt;</c> (Ollama) or <c>blobs/sha256/&lt;hex&gt;</c> (OCI).</summary>
    public string GetBlobPath(Digest digest) => Path.Combine(BlobsDirectory, _layout.BlobFileName(digest));

    /// <summary>The digest a file name in <see cref="BlobsDirectory"/> stands for; false for anything else.</summary>
    public bool TryParseBlobFileName(ReadOnlySpan<char> fileName, out Digest digest) => _layout.TryParseBlobFileName(fileName, out digest);

    /// <summary>
    /// The files kept for a blob being downloaded: <c>.regc/partial/sha256-&lt;hex&gt;.&lt;owner&gt;.partial</c> and
    /// its <c>.marker</c> and <c>.owner</c> companions, and the blob's <c>.claim</c>.
    /// </summary>
    public IReadOnlyList<string> GetPartialFiles(Digest digest)
    {
        if (!Directory.Exists(PartialDirectory))
        {
            return [];
        }

        return Directory.GetFiles(PartialDirectory, digest.FileName + ".*").Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The path of a model's manifest: <c>manifests/&lt;host&gt;/&lt;ns&gt;/&lt;model&gt;/&lt;tag&gt;</c>, lower-cased.</summary>
    /// <exception cref="NotSupportedException">The store is an OCI layout (its manifests are blobs named in index.json).</exception>
    public string GetManifestPath(ModelName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _layout is OllamaLayout
            ? OllamaLayout.ManifestPath(this, name)
            : throw new NotSupportedException($"{Root} is an OCI layout: its manifests are blobs named in index.json");
    }

    /// <summary>
    /// The size of the blob in <c>blobs/</c>, or null when there is no regular file by that name
    /// (a directory or a symbolic link there is not a blob).
    /// </summary>
    public long? GetBlobSize(Digest digest)
    {
        var info = new FileInfo(GetBlobPath(digest));
        return info.Exists && info.LinkTarget is null ? info.Length : null;
    }

    /// <summary>
    /// Creates the store's folders if needed and proves the store is writable, before any byte is fetched.
    /// </summary>
    /// <exception cref="StoreException">The store cannot be created or written; the message says where.</exception>
    public void EnsureWritable()
    {
        try
        {
            Directory.CreateDirectory(Root);
            EnsureDirectory(BlobsDirectory);
            foreach (string directory in _layout.ExtraDirectories(this))
            {
                EnsureDirectory(directory);
            }

            EnsureDirectory(StateDirectory);
            EnsureDirectory(PartialDirectory);
            EnsureDirectory(TempDirectory);
            string probe = Path.Combine(TempDirectory, $"probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
            using (File.Create(probe, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not StoreException)
        {
            throw new StoreException($"the model store {Root} is not writable: {e.Message}", e);
        }
    }

    /// <summary>
    /// Moves a fully verified partial file into <c>blobs/</c> under its digest's name. The caller must have
    /// checked the whole content against <paramref name="digest"/> and flushed it to disk.
    /// </summary>
    internal void CommitVerifiedBlob(string partialPath, Digest digest)
    {
        EnsureDirectory(BlobsDirectory);
        string target = GetBlobPath(digest);
        if (Directory.Exists(target) || new FileInfo(target).LinkTarget is not null)
        {
            throw new StoreException($"{target} is a directory or a link, not a blob: remove it and pull again");
        }

        // Same digest means same bytes, so replacing a copy another process committed is harmless.
        File.Move(partialPath, target, overwrite: true);
    }

    /// <summary>
    /// Writes a manifest atomically (temporary file, flush, rename). Call only after every blob it names is in
    /// <c>blobs/</c>.
    /// </summary>
    /// <exception cref="StoreException">A folder on the way is a link or cannot be created.</exception>
    public Task WriteManifestAsync(ModelName name, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _layout.WriteManifestAsync(this, name, bytes, cancellationToken);
    }

    /// <summary>
    /// Writes a small blob held in memory (a manifest) into <c>blobs/</c> atomically, unless it is there already.
    /// </summary>
    /// <exception cref="DigestMismatchException">The bytes do not hash to <paramref name="digest"/>; nothing is written.</exception>
    internal async Task WriteSmallBlobAsync(Digest digest, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        if (Digest.Compute(bytes.Span) != digest)
        {
            throw new DigestMismatchException($"refusing to store {bytes.Length} bytes as {digest}: they hash to {Digest.Compute(bytes.Span)}");
        }

        if (GetBlobSize(digest) != bytes.Length)
        {
            EnsureDirectory(BlobsDirectory);
            await WriteAtomicallyAsync(GetBlobPath(digest), bytes, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Gives a stored model a second name, as <c>ollama cp</c> does: the manifest bytes of <paramref name="source"/>
    /// are written unchanged under <paramref name="destination"/> (replacing what that name held). Blobs are shared,
    /// so nothing else is written; every blob the manifest names must be complete first.
    /// </summary>
    /// <exception cref="ModelNotInStoreException">The source is not in the store.</exception>
    /// <exception cref="StoreException">One of the source's blobs is missing or the wrong size.</exception>
    /// <exception cref="InvalidManifestException">The source's manifest cannot be parsed.</exception>
    public async Task CopyModelAsync(ModelName source, ModelName destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        StoredManifest stored = FindManifest(source);
        (_, Manifest? manifest, byte[]? bytes, string? error) = ReadManifest(stored);
        if (manifest is null || bytes is null)
        {
            throw new InvalidManifestException($"the manifest of {stored.Name.DisplayName} cannot be read: {error}");
        }

        foreach (Descriptor blob in manifest.Blobs)
        {
            if (GetBlobSize(blob.Digest) != blob.Size)
            {
                throw new StoreException($"{blob.Digest} of {stored.Name.DisplayName} is missing or the wrong size in {BlobsDirectory}; regc verify --repair fetches it again");
            }
        }

        await WriteManifestAsync(destination, bytes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a model's manifest (the file, and folders left empty; in an OCI layout, its index.json entry).</summary>
    public Task DeleteManifestAsync(ModelName name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _layout.DeleteManifestAsync(this, name, cancellationToken);
    }

    /// <summary>
    /// Writes content into <c>blobs/</c>, hashing it on the way; returns its digest. Used to build stores
    /// (samples, mirrors of small files); large pulls go through the pull engine instead.
    /// </summary>
    public Task<Descriptor> ImportBlobAsync(Stream content, string mediaType, CancellationToken cancellationToken = default) =>
        ImportBlobAsync(content, mediaType, null, cancellationToken);

    /// <summary>
    /// Copies content into <c>blobs/</c> as the blob <paramref name="expected"/>, hashing it on the way; nothing
    /// is committed unless the content has exactly the expected size and digest.
    /// </summary>
    /// <exception cref="DigestMismatchException">The content is not the expected blob.</exception>
    public Task<Descriptor> ImportBlobAsync(Stream content, Descriptor expected, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(expected);
        return ImportBlobAsync(content, expected.MediaType, expected, cancellationToken);
    }

    private async Task<Descriptor> ImportBlobAsync(Stream content, string mediaType, Descriptor? expected, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        EnsureDirectory(TempDirectory);
        string temp = Path.Combine(TempDirectory, $"import-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            long size = 0;
            Digest digest;
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                await using (file.ConfigureAwait(false))
                {
                    byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
                    try
                    {
                        int read;
                        while ((read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                        {
                            hash.AppendData(buffer, 0, read);
                            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                            size += read;
                        }
                    }
                    finally
                    {
                        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                    }

                    file.Flush(flushToDisk: true);
                }

                Span<byte> result = stackalloc byte[SHA256.HashSizeInBytes];
                hash.GetHashAndReset(result);
                digest = Digest.FromHash(result);
            }

            if (expected is not null && (expected.Digest != digest || expected.Size != size))
            {
                throw new DigestMismatchException($"the copy of {expected.Digest} has {size} bytes hashing to {digest}, not {expected.Size} bytes; the source is damaged (run regc verify on it)");
            }

            CommitVerifiedBlob(temp, digest);
            return new Descriptor(mediaType, digest, size);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Lists the manifests in the store whose path spells a valid model name.</summary>
    public IEnumerable<StoredManifest> ListManifests() => _layout.ListManifests(this);

    /// <summary>
    /// The model a reference in the layout's own terms names (in an OCI layout: a ref name, or a bare tag naming one
    /// manifest); null when there is none (then the reference is read as a model name).
    /// </summary>
    public ModelName? FindByLayoutReference(string reference) => _layout.FindByReference(this, reference);

    /// <summary>The stored manifest of <paramref name="name"/> (matched case-insensitively, as names are).</summary>
    /// <exception cref="ModelNotInStoreException">The store has no such model.</exception>
    public StoredManifest FindManifest(ModelName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return ListManifests().FirstOrDefault(m => m.Name.Key == name.Key)
            ?? throw new ModelNotInStoreException($"{name.DisplayName} is not in {Root} (regc list shows what is)");
    }

    /// <summary>The most bytes a stored manifest may have (as for one fetched from a registry).</summary>
    public const int MaxManifestBytes = 4 << 20;

    /// <summary>
    /// Reads and parses every manifest of <see cref="ListManifests"/>: the parsed manifest, or null and the reason
    /// when the file cannot be read, is larger than <see cref="MaxManifestBytes"/> or is not a valid manifest.
    /// </summary>
    public IEnumerable<(StoredManifest Stored, Manifest? Manifest, byte[]? Bytes, string? Error)> ReadManifests()
    {
        foreach (StoredManifest stored in ListManifests())
        {
            yield return ReadManifest(stored);
        }
    }

    /// <summary>Reads and parses one stored manifest, as <see cref="ReadManifests"/> does.</summary>
    public (StoredManifest Stored, Manifest? Manifest, byte[]? Bytes, string? Error) ReadManifest(StoredManifest stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        try
        {
            byte[] bytes = ReadSmallFile(stored.Path);
            return (stored, ParseManifest(bytes), bytes, null);
        }
        catch (Exception e) when (e is InvalidManifestException or IOException or UnauthorizedAccessException)
        {
            return (stored, null, null, e.Message);
        }
    }

    /// <summary>
    /// Parses manifest bytes kept in this store: an image manifest, or an index (kept whole by a mirror) whose
    /// child manifests are blobs here, each read and checked against its digest.
    /// </summary>
    /// <exception cref="InvalidManifestException">The bytes, or a child manifest, are invalid, missing or damaged.</exception>
    public Manifest ParseManifest(ReadOnlySpan<byte> bytes)
    {
        if (!ManifestIndex.IsIndex(bytes, null))
        {
            return Manifest.Parse(bytes);
        }

        ManifestIndex index = ManifestIndex.Parse(bytes);
        var children = new List<(IndexEntry, Manifest)>();
        foreach (IndexEntry entry in index.Entries.DistinctBy(e => e.Descriptor.Digest))
        {
            Descriptor child = entry.Descriptor;
            string what = $"the {entry.Platform} manifest {child.Digest.Short} of the index";
            if (GetBlobSize(child.Digest) != child.Size)
            {
                throw new InvalidManifestException($"{what} is not in {BlobsDirectory} with {child.Size} bytes; mirror the model again");
            }

            byte[] childBytes;
            try
            {
                childBytes = ReadSmallFile(GetBlobPath(child.Digest));
            }
            catch (IOException e)
            {
                throw new InvalidManifestException($"{what} cannot be read: {e.Message}", e);
            }

            if (Digest.Compute(childBytes) != child.Digest)
            {
                throw new InvalidManifestException($"{what} is damaged (it does not hash to its name); mirror the model again");
            }

            children.Add((entry, Manifest.Parse(childBytes)));
        }

        return Manifest.ForIndex(index.MediaType, children);
    }

    /// <summary>Reads a manifest-sized file: at most <see cref="MaxManifestBytes"/>.</summary>
    private static byte[] ReadSmallFile(string path) =>
        new FileInfo(path).Length > MaxManifestBytes
            ? throw new InvalidManifestException($"{path} is larger than {MaxManifestBytes >> 20} MiB")
            : File.ReadAllBytes(path);

    /// <summary>
    /// Writes a file under the root atomically: temporary file in <c>.regc/tmp</c>, flush (unless not
    /// <paramref name="durable"/>: then a killed process still leaves the old or the new file whole, and only a power loss
    /// may lose the new one), rename.
    /// </summary>
    internal async Task WriteAtomicallyAsync(string target, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken, bool durable = true)
    {
        EnsureDirectory(TempDirectory);
        string temp = Path.Combine(TempDirectory, $"write-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous))
            {
                await RandomAccess.WriteAsync(handle, bytes, 0, cancellationToken).ConfigureAwait(false);
                if (durable)
                {
                    RandomAccess.FlushToDisk(handle);
                }
            }

            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Creates <paramref name="parts"/> below <paramref name="start"/> (a folder inside the root) one at a time,
    /// refusing any component that exists as a symbolic link; returns the full path.
    /// </summary>
    internal string EnsureDirectory(string start, params ReadOnlySpan<string> parts)
    {
        string relative = Path.GetRelativePath(Root, start);
        string current = Root;
        foreach (string part in relative == "." ? [] : relative.Split(Path.DirectorySeparatorChar))
        {
            current = EnsureComponent(current, part);
        }

        foreach (string part in parts)
        {
            current = EnsureComponent(current, part);
        }

        return current;
    }

    private static string EnsureComponent(string parent, string part)
    {
        if (part.Length == 0 || part is "." or ".." || part.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new StoreException($"refusing the path component \"{part}\" under {parent}");
        }

        string path = Path.Combine(parent, part);
        var info = new DirectoryInfo(path);
        if (info.LinkTarget is not null)
        {
            throw new StoreException($"{path} is a symbolic link; the store writes only to real folders inside its root");
        }

        if (!info.Exists)
        {
            if (File.Exists(path))
            {
                throw new StoreException($"{path} is a file where the store needs a folder");
            }

            Directory.CreateDirectory(path);
        }

        return path;
    }
}
