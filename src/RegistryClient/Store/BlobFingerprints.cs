using System.Buffers.Binary;
using System.IO.Hashing;
using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// XxHash128 fingerprints of a blob's pieces of <see cref="PieceSize"/> bytes, recorded when the blob was proven by its
/// SHA-256, so that a later scrub (<c>regc verify --fast</c>) checks the blob at disk speed. A fingerprint detects
/// accidental damage since the blob was proven (bit rot, a failing disk, a stray write), not tampering: anyone who
/// can change the blob can change its fingerprints.
/// </summary>
/// <remarks>
/// Kept as <c>.regc/fingerprints/sha256-&lt;hex&gt;</c>: a 32-byte header (magic <c>RGCF</c>, version 1, reserved,
/// the blob's size, the piece size, the piece count, reserved; little-endian), 16 bytes per piece, then the XxHash128
/// of everything before it, so a damaged record is told from a damaged blob.
/// </remarks>
public sealed class BlobFingerprints
{
    /// <summary>The bytes of one piece (the last may be shorter): 16 MiB.</summary>
    public const long PieceSize = 16L << 20;

    private const uint Magic = 0x46434752; // "RGCF"
    private const ushort Version = 1;
    private const int HeaderSize = 32;
    private const int FingerprintSize = 16;

    private readonly UInt128[] _pieces;

    private BlobFingerprints(long blobSize, UInt128[] pieces)
    {
        BlobSize = blobSize;
        _pieces = pieces;
    }

    /// <summary>The blob's size in bytes.</summary>
    public long BlobSize { get; }

    /// <summary>How many pieces the blob has.</summary>
    public int Count => _pieces.Length;

    /// <summary>The bytes of piece <paramref name="index"/>.</summary>
    public Chunk Piece(int index) => PieceOf(index, BlobSize);

    /// <summary>True when <paramref name="bytes"/> (piece <paramref name="index"/>'s) have the recorded fingerprint.</summary>
    public bool Matches(int index, ReadOnlySpan<byte> bytes) => XxHash128.HashToUInt128(bytes) == _pieces[index];

    /// <summary>True when <paramref name="hash"/>, fed with piece <paramref name="index"/>'s bytes, has the recorded fingerprint.</summary>
    public bool Matches(int index, XxHash128 hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        return hash.GetCurrentHashAsUInt128() == _pieces[index];
    }

    /// <summary>The number of pieces of a blob of <paramref name="size"/> bytes.</summary>
    public static int PieceCount(long size) => (int)((size + PieceSize - 1) / PieceSize);

    private static Chunk PieceOf(int index, long size) => new(index * PieceSize, Math.Min(size, (index + 1) * PieceSize) - 1);

    /// <summary>The record's bytes.</summary>
    public byte[] ToBytes()
    {
        byte[] bytes = new byte[HeaderSize + (_pieces.Length * FingerprintSize) + FingerprintSize];
        Span<byte> span = bytes;
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], BlobSize);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], PieceSize);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], _pieces.Length);
        for (int i = 0; i < _pieces.Length; i++)
        {
            BinaryPrimitives.WriteUInt128LittleEndian(span[(HeaderSize + (i * FingerprintSize))..], _pieces[i]);
        }

        int body = bytes.Length - FingerprintSize;
        BinaryPrimitives.WriteUInt128LittleEndian(span[body..], XxHash128.HashToUInt128(span[..body]));
        return bytes;
    }

    /// <summary>
    /// Reads a record for a blob of <paramref name="blobSize"/> bytes; null when it is damaged, of another version or
    /// piece size, or for another size.
    /// </summary>
    public static BlobFingerprints? TryParse(ReadOnlySpan<byte> bytes, long blobSize)
    {
        int count = PieceCount(blobSize);
        if (bytes.Length != HeaderSize + (count * FingerprintSize) + FingerprintSize
            || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic
            || BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]) != Version
            || BinaryPrimitives.ReadInt64LittleEndian(bytes[8..]) != blobSize
            || BinaryPrimitives.ReadInt64LittleEndian(bytes[16..]) != PieceSize
            || BinaryPrimitives.ReadInt32LittleEndian(bytes[24..]) != count)
        {
            return null;
        }

        int body = bytes.Length - FingerprintSize;
        if (XxHash128.HashToUInt128(bytes[..body]) != BinaryPrimitives.ReadUInt128LittleEndian(bytes[body..]))
        {
            return null;
        }

        var pieces = new UInt128[count];
        for (int i = 0; i < count; i++)
        {
            pieces[i] = BinaryPrimitives.ReadUInt128LittleEndian(bytes[(HeaderSize + (i * FingerprintSize))..]);
        }

        return new BlobFingerprints(blobSize, pieces);
    }

    /// <summary>Fingerprints a blob's bytes as they are read in order, from its first byte to its last.</summary>
    public sealed class Builder
    {
        private readonly long _size;
        private readonly UInt128[] _pieces;
        private readonly XxHash128 _hash = new();
        private long _position;

        /// <summary>For a blob of <paramref name="size"/> bytes.</summary>
        public Builder(long size)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(size);
            _size = size;
            _pieces = new UInt128[PieceCount(size)];
        }

        /// <summary>Takes the next bytes of the blob.</summary>
        public void Append(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                if (_position >= _size)
                {
                    throw new InvalidOperationException("more bytes than the blob has");
                }

                int index = (int)(_position / PieceSize);
                long pieceEnd = PieceOf(index, _size).End + 1;
                int take = (int)Math.Min(bytes.Length, pieceEnd - _position);
                _hash.Append(bytes[..take]);
                _position += take;
                bytes = bytes[take..];
                if (_position == pieceEnd)
                {
                    _pieces[index] = _hash.GetCurrentHashAsUInt128();
                    _hash.Reset();
                }
            }
        }

        /// <summary>The fingerprints, once every byte was taken.</summary>
        public BlobFingerprints Finish()
        {
            if (_position != _size)
            {
                throw new InvalidOperationException($"{_position} of the blob's {_size} bytes were fingerprinted");
            }

            return new BlobFingerprints(_size, _pieces);
        }
    }
}
