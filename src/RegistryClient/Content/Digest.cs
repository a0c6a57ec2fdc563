using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace RegistryClient.Content;

/// <summary>
/// A SHA-256 content digest, held as its 32 raw bytes. It is the only input from which the
/// store builds a blob path, so a value of this type is always a well-formed digest.
/// </summary>
/// <remarks>
/// The canonical text form is <c>sha256:</c> followed by 64 lower-case hex digits
/// (<see href="https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md#digests"/>).
/// Upper-case hex, other algorithms and any other text are rejected, so one blob can never
/// have two names. Values are immutable and safe to share between threads.
/// </remarks>
public readonly record struct Digest
{
    /// <summary>The algorithm prefix of the canonical form, including the colon.</summary>
    public const string Prefix = "sha256:";

    /// <summary>The number of characters of the canonical form (<c>sha256:</c> + 64 hex).</summary>
    public const int CanonicalLength = 71;

    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;

    private Digest(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a;
        _b = b;
        _c = c;
        _d = d;
    }

    /// <summary>Builds a digest from the 32 bytes of a SHA-256 hash.</summary>
    /// <exception cref="ArgumentException"><paramref name="hash"/> is not 32 bytes long.</exception>
    public static Digest FromHash(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException($"A SHA-256 hash has 32 bytes, not {hash.Length}.", nameof(hash));
        }

        return new Digest(
            BinaryPrimitives.ReadUInt64BigEndian(hash),
            BinaryPrimitives.ReadUInt64BigEndian(hash[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(hash[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(hash[24..]));
    }

    /// <summary>Computes the digest of a buffer held in memory (manifests, small test data).</summary>
    public static Digest Compute(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, hash);
        return FromHash(hash);
    }

    /// <summary>Writes the 32 hash bytes into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 32 bytes.</exception>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("The destination needs 32 bytes.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    /// <summary>True when <paramref name="hash"/> holds exactly this digest's 32 bytes.</summary>
    public bool Matches(ReadOnlySpan<byte> hash)
    {
        return hash.Length == SHA256.HashSizeInBytes
            && BinaryPrimitives.ReadUInt64BigEndian(hash) == _a
            && BinaryPrimitives.ReadUInt64BigEndian(hash[8..]) == _b
            && BinaryPrimitives.ReadUInt64BigEndian(hash[16..]) == _c
            && BinaryPrimitives.ReadUInt64BigEndian(hash[24..]) == _d;
    }

    /// <summary>The 64 lower-case hex digits, without the algorithm prefix.</summary>
    public string Hex
    {
        get
        {
            Span<byte> bytes = stackalloc byte[SHA256.HashSizeInBytes];
            CopyTo(bytes);
            return Convert.ToHexStringLower(bytes);
        }
    }

    /// <summary>The first 12 hex digits, as Ollama shows a layer in progress output.</summary>
    public string Short => Hex[..12];

    /// <summary>The file name of this blob in an Ollama store: <c>sha256-&lt;hex&gt;</c>.</summary>
    public string FileName => "sha256-" + Hex;

    /// <summary>The canonical form <c>sha256:&lt;64 hex&gt;</c>.</summary>
    public override string ToString() => Prefix + Hex;

    /// <summary>Parses the canonical form <c>sha256:&lt;64 lower-case hex&gt;</c>.</summary>
    /// <exception cref="FormatException">The text is not a canonical SHA-256 digest; the message says why.</exception>
    public static Digest Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (TryParse(text.AsSpan(), out Digest digest, out string? reason))
        {
            return digest;
        }

        throw new FormatException($"invalid digest \"{Printable(text)}\": {reason}");
    }

    /// <summary>Parses the canonical form; false for anything else.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out Digest digest)
    {
        if (text is null)
        {
            digest = default;
            return false;
        }

        return TryParse(text.AsSpan(), out digest, out _);
    }

    /// <summary>Parses the canonical form from characters; false for anything else.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out Digest digest) => TryParse(text, out digest, out _);

    /// <summary>Parses the canonical form from UTF-8 bytes (chunksums bodies); false for anything else.</summary>
    public static bool TryParseUtf8(ReadOnlySpan<byte> text, out Digest digest)
    {
        digest = default;
        if (text.Length != CanonicalLength || !text.StartsWith("sha256:"u8))
        {
            return false;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        ReadOnlySpan<byte> hex = text[Prefix.Length..];
        for (int i = 0; i < hash.Length; i++)
        {
            int hi = LowerHexValue(hex[2 * i]);
            int lo = LowerHexValue(hex[(2 * i) + 1]);
            if ((hi | lo) < 0)
            {
                return false;
            }

            hash[i] = (byte)((hi << 4) | lo);
        }

        digest = FromHash(hash);
        return true;
    }

    /// <summary>
    /// Parses an Ollama blob file name, <c>sha256-&lt;64 lower-case hex&gt;</c>; false for anything else
    /// (including upper-case hex, which Ollama would treat as another file).
    /// </summary>
    public static bool TryParseFileName(ReadOnlySpan<char> fileName, out Digest digest)
    {
        digest = default;
        if (fileName.Length != CanonicalLength || !fileName.StartsWith("sha256-", StringComparison.Ordinal))
        {
            return false;
        }

        Span<char> canonical = stackalloc char[CanonicalLength];
        fileName.CopyTo(canonical);
        canonical[6] = ':';
        return TryParse(canonical, out digest, out _);
    }

    private static bool TryParse(ReadOnlySpan<char> text, out Digest digest, [NotNullWhen(false)] out string? reason)
    {
        digest = default;
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            reason = "only sha256:<64 lower-case hex digits> is supported";
            return false;
        }

        ReadOnlySpan<char> hex = text[Prefix.Length..];
        if (hex.Length != 64)
        {
            reason = $"expected 64 hex digits after \"sha256:\", found {hex.Length} characters";
            return false;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        for (int i = 0; i < hash.Length; i++)
        {
            int hi = LowerHexValue(hex[2 * i]);
            int lo = LowerHexValue(hex[(2 * i) + 1]);
            if ((hi | lo) < 0)
            {
                reason = "the hex digits must be 0-9 and a-f (lower case)";
                return false;
            }

            hash[i] = (byte)((hi << 4) | lo);
        }

        digest = FromHash(hash);
        reason = null;
        return true;
    }

    private static int LowerHexValue(int c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => -1,
    };

    /// <summary>Shortens and escapes untrusted text so that an error message stays one readable line.</summary>
    internal static string Printable(string text)
    {
        const int Max = 100;
        var builder = new System.Text.StringBuilder(Math.Min(text.Length, Max) + 8);
        foreach (char c in text.Length > Max ? text.AsSpan(0, Max) : text.AsSpan())
        {
            if (char.IsControl(c))
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                builder.Append(c);
            }
        }

        if (text.Length > Max)
        {
            builder.Append('…');
        }

        return builder.ToString();
    }
}
