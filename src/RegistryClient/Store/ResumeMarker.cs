using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// The resume record of one partial blob: a 64-byte header and one byte per chunk, 1 once the chunk's bytes are
/// durable in the partial (the caller flushes the partial before marking). It only saves work: a missing, stale
/// or damaged marker is replaced by a fresh one and the partial's chunks are re-checked against their digests.
/// </summary>
/// <remarks>
/// Layout (little-endian): 0 magic <c>RGCM</c>; 4 version (u16, 1); 6 flags (u16, bit 0: chunk digests came from
/// the registry, so each marked chunk was verified); 8 blob size (i64); 16 the SHA-256 of the chunk list the
/// chunks refer to (32 bytes); 48 chunk count (i32); 52 zero to 64; then the chunk bytes.
/// </remarks>
internal sealed class ResumeMarker : IDisposable
{
    public const int HeaderSize = 64;
    private const ushort Version = 1;
    private static readonly byte[] Magic = "RGCM"u8.ToArray();

    private readonly SafeFileHandle _handle;
    private readonly byte[] _map;

    private ResumeMarker(string path, SafeFileHandle handle, byte[] map)
    {
        Path = path;
        _handle = handle;
        _map = map;
    }

    public string Path { get; }

    /// <summary>
    /// Opens the marker at <paramref name="path"/> for a list of <paramref name="count"/> chunks. When the file
    /// holds a valid marker for the same blob size, flags and list, <paramref name="durable"/> says which chunks are
    /// recorded; otherwise the file is rewritten empty and <paramref name="durable"/> is null.
    /// </summary>
    public static ResumeMarker Open(string path, long size, Digest listDigest, bool verifiedChunks, int count, out bool[]? durable)
    {
        SafeFileHandle handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        try
        {
            byte[] header = BuildHeader(size, listDigest, verifiedChunks, count);
            var map = new byte[count];
            durable = TryLoad(handle, header, map);
            if (durable is null)
            {
                Array.Clear(map);
                RandomAccess.SetLength(handle, 0);
                RandomAccess.Write(handle, header, 0);
                RandomAccess.Write(handle, map, HeaderSize);
            }

            return new ResumeMarker(path, handle, map);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Records chunks as durable. Call only after the partial's bytes of those chunks were flushed to disk. The
    /// marker itself is not flushed: losing a mark costs a re-check, never correctness.
    /// </summary>
    public void Mark(IReadOnlyCollection<int> chunks)
    {
        if (chunks.Count == 0)
        {
            return;
        }

        int low = int.MaxValue;
        int high = -1;
        foreach (int chunk in chunks)
        {
            _map[chunk] = 1;
            low = Math.Min(low, chunk);
            high = Math.Max(high, chunk);
        }

        RandomAccess.Write(_handle, _map.AsSpan(low, high - low + 1), HeaderSize + low);
    }

    /// <summary>Clears a chunk's mark (its bytes turned out damaged); written before the chunk is written again.</summary>
    public void Unmark(int chunk)
    {
        _map[chunk] = 0;
        RandomAccess.Write(_handle, _map.AsSpan(chunk, 1), HeaderSize + chunk);
    }

    /// <summary>Closes and removes the marker (its blob is committed or discarded).</summary>
    public void Delete()
    {
        _handle.Dispose();
        File.Delete(Path);
    }

    public void Dispose() => _handle.Dispose();

    private static bool[]? TryLoad(SafeFileHandle handle, byte[] expectedHeader, byte[] map)
    {
        if (RandomAccess.GetLength(handle) != HeaderSize + map.Length)
        {
            return null;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        if (RandomAccess.Read(handle, header, 0) != HeaderSize || !header.SequenceEqual(expectedHeader)
            || RandomAccess.Read(handle, map, HeaderSize) != map.Length)
        {
            return null;
        }

        var durable = new bool[map.Length];
        for (int i = 0; i < map.Length; i++)
        {
            if (map[i] > 1)
            {
                return null; // Damaged: only 0 and 1 are ever written.
            }

            durable[i] = map[i] == 1;
        }

        return durable;
    }

    private static byte[] BuildHeader(long size, Digest listDigest, bool verifiedChunks, int count)
    {
        var header = new byte[HeaderSize];
        Magic.CopyTo(header, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), verifiedChunks ? (ushort)1 : (ushort)0);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), size);
        listDigest.CopyTo(header.AsSpan(16, 32));
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(48), count);
        return header;
    }
}
