using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Hashing;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using RegistryClient.Content;
using RegistryClient.Store;

namespace RegistryClient.Maintenance;

/// <summary>
/// Checks a store: every blob hashes to its name, every manifest parses and its blobs exist with the right size;
/// reports orphans, partial downloads (this project's and Ollama's <c>-partial</c> files) and stray files. Blobs
/// are hashed in parallel on all cores, largest first so that one big blob does not start last. A blob whose
/// digest fails and whose chunk digests the store holds (a sidecar written by a pull or by <c>regc serve</c>) is
/// checked chunk by chunk in parallel, to name the damaged ranges (which <c>verify --repair</c> then re-fetches).
/// A blob proven by its SHA-256 gets its fingerprints recorded (<see cref="BlobFingerprints"/>, in <c>.regc/</c>):
/// the fast check compares each blob's pieces with them, all pieces of all blobs in parallel, at disk speed, and
/// falls back to the SHA-256 for a blob without them. It changes nothing else in the store.
/// </summary>
public sealed class StoreVerifier
{
    private const int BufferSize = 1 << 20;

    private readonly ModelStore _store;
    private readonly int _parallelism;

    /// <summary>Creates a verifier.</summary>
    /// <param name="store">The store to check.</param>
    /// <param name="parallelism">Blobs (or chunks) hashed at once; 0 means one per core.</param>
    public StoreVerifier(ModelStore store, int parallelism = 0)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfNegative(parallelism);
        _store = store;
        _parallelism = parallelism == 0 ? Environment.ProcessorCount : parallelism;
    }

    /// <summary>Checks the whole store, every blob by its SHA-256.</summary>
    /// <exception cref="StoreException">The store does not exist.</exception>
    public Task<VerifyReport> VerifyAsync(CancellationToken cancellationToken = default) => VerifyAsync(fast: false, cancellationToken);

    /// <summary>
    /// Checks the whole store. With <paramref name="fast"/>, a blob with fingerprints is compared with them instead of
    /// hashed by SHA-256: that finds accidental damage since SHA-256 last proved the blob (bit rot, a failing disk),
    /// not a deliberate change, which can rewrite the fingerprints too.
    /// </summary>
    /// <exception cref="StoreException">The store does not exist.</exception>
    public async Task<VerifyReport> VerifyAsync(bool fast, CancellationToken cancellationToken = default)
    {
        long started = Stopwatch.GetTimestamp();
        if (!Directory.Exists(_store.Root))
        {
            throw new StoreException($"there is no model store at {_store.Root}");
        }

        var findings = new ConcurrentBag<VerifyFinding>();
        var references = new Dictionary<Digest, (long Size, SortedSet<string> Models)>();
        int manifests = 0;
        foreach ((StoredManifest stored, Manifest? manifest, _, string? error) in _store.ReadManifests())
        {
            manifests++;
            if (manifest is null)
            {
                findings.Add(new VerifyFinding(FindingKind.BadManifest, null, stored.Path, FileSize(stored.Path), [stored.Name.DisplayName], $"cannot read the manifest of {stored.Name.DisplayName}: {error}; pull it again"));
                continue;
            }

            // In an OCI layout the manifest itself is a blob too.
            IEnumerable<Descriptor> named = _store.ManifestsAreBlobs && _store.TryParseBlobFileName(Path.GetFileName(stored.Path), out Digest self)
                ? manifest.Blobs.Prepend(new Descriptor(manifest.MediaType ?? string.Empty, self, FileSize(stored.Path)))
                : manifest.Blobs;
            foreach (Descriptor blob in named)
            {
                if (!references.TryGetValue(blob.Digest, out var entry))
                {
                    entry = (blob.Size, new SortedSet<string>(StringComparer.Ordinal));
                    references.Add(blob.Digest, entry);
                }

                entry.Models.Add(stored.Name.DisplayName);
            }
        }

        IReadOnlyList<string> ModelsOf(Digest digest) => references.TryGetValue(digest, out var entry) ? entry.Models.ToArray() : [];

        // What is in blobs/: blobs to hash, Ollama's partial downloads, strays.
        var blobs = new List<(Digest Digest, string Path, long Size)>();
        if (Directory.Exists(_store.BlobsDirectory))
        {
            foreach (string path in Directory.EnumerateFileSystemEntries(_store.BlobsDirectory))
            {
                string name = Path.GetFileName(path);
                var info = new FileInfo(path);
                bool regular = info.Exists && info.LinkTarget is null;
                if (regular && _store.TryParseBlobFileName(name, out Digest digest))
                {
                    blobs.Add((digest, path, info.Length));
                }
                else if (regular && name.Length > 71 && name.AsSpan(71).StartsWith("-partial", StringComparison.Ordinal) && Digest.TryParseFileName(name.AsSpan(0, 71), out digest))
                {
                    findings.Add(new VerifyFinding(FindingKind.Partial, digest, path, info.Length, ModelsOf(digest), $"part of an interrupted Ollama download of {digest.Short}"));
                }
                else
                {
                    findings.Add(new VerifyFinding(FindingKind.Stray, null, path, regular ? info.Length : 0, [], "not a blob: its name is not sha256-<64 hex> (or it is a folder or a link); Ollama deletes such files"));
                }
            }
        }

        foreach (string path in Directory.Exists(_store.PartialDirectory) ? Directory.EnumerateFiles(_store.PartialDirectory, StateFiles.AnyPartial) : [])
        {
            if (StateFiles.TryParsePartial(path, out Digest digest, out _))
            {
                findings.Add(new VerifyFinding(FindingKind.Partial, digest, path, FileSize(path), ModelsOf(digest), $"an interrupted download of {digest.Short}; pull resumes it"));
            }
        }

        var present = new HashSet<Digest>(blobs.Select(b => b.Digest));
        foreach ((Digest digest, (long size, SortedSet<string> models)) in references)
        {
            if (!present.Contains(digest))
            {
                findings.Add(new VerifyFinding(FindingKind.Missing, digest, _store.GetBlobPath(digest), size, models.ToArray(), $"{digest} ({ByteSize.Format(size)}) is missing"));
            }
        }

        long hashed = 0;
        int count = 0;
        var toHash = new List<(Digest Digest, string Path, long Size)>();
        var toCompare = new List<(Digest Digest, string Path, BlobFingerprints Prints)>();
        foreach ((Digest digest, string path, long size) blob in blobs)
        {
            if (references.TryGetValue(blob.digest, out var entry) && entry.Size != blob.size)
            {
                findings.Add(new VerifyFinding(FindingKind.WrongSize, blob.digest, blob.path, blob.size, ModelsOf(blob.digest), $"{blob.digest} has {blob.size} bytes, its manifest says {entry.Size}"));
            }
            else if (fast && _store.TryReadFingerprints(blob.digest, blob.size) is { } prints)
            {
                toCompare.Add((blob.digest, blob.path, prints));
            }
            else
            {
                toHash.Add(blob);
            }
        }

        void Checked(Digest digest, string path, long size, VerifyFinding? finding)
        {
            Interlocked.Add(ref hashed, size);
            Interlocked.Increment(ref count);
            if (finding is not null)
            {
                findings.Add(finding);
            }
            else if (ModelsOf(digest).Count == 0)
            {
                findings.Add(new VerifyFinding(FindingKind.Orphaned, digest, path, size, [], $"{digest.Short} is named by no manifest; regc prune removes it"));
            }
        }

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(toHash.OrderByDescending(b => b.Size), parallel, async (blob, token) =>
            Checked(blob.Digest, blob.Path, blob.Size, await CheckBlobAsync(blob.Digest, blob.Path, blob.Size, ModelsOf(blob.Digest), token).ConfigureAwait(false))).ConfigureAwait(false);
        foreach ((Digest digest, string path, long size, VerifyFinding? finding) in await ComparePiecesAsync(toCompare, ModelsOf, cancellationToken).ConfigureAwait(false))
        {
            Checked(digest, path, size, finding);
        }

        VerifyFinding[] ordered = findings
            .OrderBy(f => f.IsDamage ? 0 : 1).ThenBy(f => f.Kind).ThenBy(f => f.Path, StringComparer.Ordinal)
            .ToArray();
        return new VerifyReport(ordered, manifests, count, hashed, Stopwatch.GetElapsedTime(started)) { ComparedBlobs = toCompare.Count };
    }

    /// <summary>
    /// Compares every piece of every blob in <paramref name="blobs"/> with its fingerprint, all in parallel; returns
    /// each blob with its finding (null when every piece matches).
    /// </summary>
    private async Task<List<(Digest Digest, string Path, long Size, VerifyFinding? Finding)>> ComparePiecesAsync(
        List<(Digest Digest, string Path, BlobFingerprints Prints)> blobs, Func<Digest, IReadOnlyList<string>> modelsOf, CancellationToken cancellationToken)
    {
        var bad = blobs.Select(_ => new ConcurrentBag<Chunk>()).ToArray();
        var unreadable = new ConcurrentDictionary<int, string>();
        var pieces = blobs.SelectMany((blob, b) => Enumerable.Range(0, blob.Prints.Count).Select(piece => (Blob: b, Piece: piece)));
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(pieces, parallel, async (item, token) =>
        {
            (Digest _, string path, BlobFingerprints prints) = blobs[item.Blob];
            Chunk piece = prints.Piece(item.Piece);
            try
            {
                using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
                var hash = new XxHash128();
                if (await ReadRangeAsync(handle, piece, hash.Append, token).ConfigureAwait(false) != piece.Length || !prints.Matches(item.Piece, hash))
                {
                    bad[item.Blob].Add(piece);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                unreadable.TryAdd(item.Blob, e.Message);
            }
        }).ConfigureAwait(false);

        var results = new List<(Digest, string, long, VerifyFinding?)>();
        for (int b = 0; b < blobs.Count; b++)
        {
            (Digest digest, string path, BlobFingerprints prints) = blobs[b];
            IReadOnlyList<string> models = modelsOf(digest);
            string orphan = models.Count == 0 ? "; no manifest names it (regc prune removes it)" : string.Empty;
            Chunk[] damaged = bad[b].OrderBy(c => c.Start).ToArray();
            VerifyFinding? finding = unreadable.TryGetValue(b, out string? error)
                ? new VerifyFinding(FindingKind.Corrupt, digest, path, prints.BlobSize, models, $"{digest} cannot be read: {error}")
                : damaged.Length > 0
                    ? new VerifyFinding(
                        FindingKind.Corrupt, digest, path, prints.BlobSize, models,
                        $"{digest} differs from its fingerprints in bytes {string.Join(", ", damaged.Take(5))}{(damaged.Length > 5 ? ", ..." : string.Empty)} (damaged since SHA-256 last proved it){orphan}")
                    {
                        BadChunks = damaged,
                    }
                    : null;
            results.Add((digest, path, prints.BlobSize, finding));
        }

        return results;
    }

    /// <summary>Hashes one blob; null when it matches its name, else the finding (with its bad chunks when known).</summary>
    private async Task<VerifyFinding?> CheckBlobAsync(Digest digest, string path, long size, IReadOnlyList<string> models, CancellationToken cancellationToken)
    {
        byte[] actual = new byte[SHA256.HashSizeInBytes];
        try
        {
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var prints = new BlobFingerprints.Builder(size);
            await HashRangeAsync(handle, new Chunk(0, size - 1), actual, prints, cancellationToken).ConfigureAwait(false);
            if (digest.Matches(actual))
            {
                await KeepFingerprintsAsync(digest, prints.Finish(), cancellationToken).ConfigureAwait(false);
                return null;
            }

            Chunk[] bad = await FindBadChunksAsync(handle, digest, size, cancellationToken).ConfigureAwait(false);
            string where = bad.Length > 0 ? $"; damaged bytes {string.Join(", ", bad.Take(5))}{(bad.Length > 5 ? ", ..." : string.Empty)}" : string.Empty;
            string orphan = models.Count == 0 ? "; no manifest names it (regc prune removes it)" : string.Empty;
            return new VerifyFinding(FindingKind.Corrupt, digest, path, size, models, $"{digest} hashes to {Digest.FromHash(actual)}{where}{orphan}") { BadChunks = bad };
        }
        catch (IOException e)
        {
            return new VerifyFinding(FindingKind.Corrupt, digest, path, size, models, $"{digest} cannot be read: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            return new VerifyFinding(FindingKind.Corrupt, digest, path, size, models, $"{digest} cannot be read: {e.Message}");
        }
    }

    /// <summary>The chunks that fail their digests, from the first sidecar that fits the blob; empty without one.</summary>
    private async Task<Chunk[]> FindBadChunksAsync(SafeFileHandle handle, Digest digest, long size, CancellationToken cancellationToken)
    {
        ChunkList? sums = _store.TryReadChunkList(digest, size);
        if (sums is null)
        {
            return [];
        }

        var bad = new ConcurrentBag<Chunk>();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(sums.Chunks, parallel, async (chunk, token) =>
        {
            byte[] actual = new byte[SHA256.HashSizeInBytes];
            await HashRangeAsync(handle, chunk.Range, actual, null, token).ConfigureAwait(false);
            if (!chunk.Digest.Matches(actual))
            {
                bad.Add(chunk.Range);
            }
        }).ConfigureAwait(false);
        return bad.OrderBy(c => c.Start).ToArray();
    }

    /// <summary>The blob was proven by its SHA-256: keeps its fingerprints unless the same ones are kept already.</summary>
    private async Task KeepFingerprintsAsync(Digest digest, BlobFingerprints prints, CancellationToken cancellationToken)
    {
        if (_store.TryReadFingerprints(digest, prints.BlobSize)?.ToBytes().AsSpan().SequenceEqual(prints.ToBytes()) != true)
        {
            await _store.TryKeepFingerprintsAsync(digest, prints, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Hashes a range by SHA-256 into <paramref name="result"/>, fingerprinting it too when <paramref name="prints"/> is given.</summary>
    private static async Task HashRangeAsync(SafeFileHandle handle, Chunk range, byte[] result, BlobFingerprints.Builder? prints, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await ReadRangeAsync(
            handle,
            range,
            bytes =>
            {
                hash.AppendData(bytes);
                prints?.Append(bytes);
            },
            cancellationToken).ConfigureAwait(false); // a file shorter than its size does not match its digest
        hash.GetHashAndReset(result);
    }

    /// <summary>Reads a range in order, handing each read to <paramref name="consume"/>; returns the bytes read (fewer at the end of a short file).</summary>
    private static async Task<long> ReadRangeAsync(SafeFileHandle handle, Chunk range, ReadOnlySpanAction consume, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long offset = range.Start;
            while (offset <= range.End)
            {
                int read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(BufferSize, range.End - offset + 1)), offset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                consume(buffer.AsSpan(0, read));
                offset += read;
            }

            return offset - range.Start;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private delegate void ReadOnlySpanAction(ReadOnlySpan<byte> bytes);

    private static long FileSize(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }
}
