using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
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
/// Read-only: it never changes the store.
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

    /// <summary>Checks the whole store.</summary>
    /// <exception cref="StoreException">The store does not exist.</exception>
    public async Task<VerifyReport> VerifyAsync(CancellationToken cancellationToken = default)
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
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(blobs.OrderByDescending(b => b.Size), parallel, async (blob, token) =>
        {
            IReadOnlyList<string> models = ModelsOf(blob.Digest);
            if (references.TryGetValue(blob.Digest, out var entry) && entry.Size != blob.Size)
            {
                findings.Add(new VerifyFinding(FindingKind.WrongSize, blob.Digest, blob.Path, blob.Size, models, $"{blob.Digest} has {blob.Size} bytes, its manifest says {entry.Size}"));
                return;
            }

            VerifyFinding? finding = await CheckBlobAsync(blob.Digest, blob.Path, blob.Size, models, token).ConfigureAwait(false);
            Interlocked.Add(ref hashed, blob.Size);
            Interlocked.Increment(ref count);
            if (finding is not null)
            {
                findings.Add(finding);
            }
            else if (models.Count == 0)
            {
                findings.Add(new VerifyFinding(FindingKind.Orphaned, blob.Digest, blob.Path, blob.Size, [], $"{blob.Digest.Short} is named by no manifest; regc prune removes it"));
            }
        }).ConfigureAwait(false);

        VerifyFinding[] ordered = findings
            .OrderBy(f => f.IsDamage ? 0 : 1).ThenBy(f => f.Kind).ThenBy(f => f.Path, StringComparer.Ordinal)
            .ToArray();
        return new VerifyReport(ordered, manifests, count, hashed, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Hashes one blob; null when it matches its name, else the finding (with its bad chunks when known).</summary>
    private async Task<VerifyFinding?> CheckBlobAsync(Digest digest, string path, long size, IReadOnlyList<string> models, CancellationToken cancellationToken)
    {
        byte[] actual = new byte[SHA256.HashSizeInBytes];
        try
        {
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await HashRangeAsync(handle, new Chunk(0, size - 1), actual, cancellationToken).ConfigureAwait(false);
            if (digest.Matches(actual))
            {
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
            await HashRangeAsync(handle, chunk.Range, actual, token).ConfigureAwait(false);
            if (!chunk.Digest.Matches(actual))
            {
                bad.Add(chunk.Range);
            }
        }).ConfigureAwait(false);
        return bad.OrderBy(c => c.Start).ToArray();
    }

    private static async Task HashRangeAsync(SafeFileHandle handle, Chunk range, byte[] result, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (long offset = range.Start; offset <= range.End;)
            {
                int read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(BufferSize, range.End - offset + 1)), offset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break; // shorter than its size: the digest will not match
                }

                hash.AppendData(buffer, 0, read);
                offset += read;
            }

            hash.GetHashAndReset(result);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static long FileSize(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }
}
