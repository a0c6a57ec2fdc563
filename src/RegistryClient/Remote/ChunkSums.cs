using System.Globalization;
using System.Text;
using RegistryClient.Content;
using RegistryClient.Transfer;

namespace RegistryClient.Remote;

/// <summary>One chunk of a blob and the SHA-256 of its bytes, as a registry's chunksums list gives it.</summary>
/// <param name="Digest">The digest of the chunk's bytes.</param>
/// <param name="Range">The chunk's bytes in the blob (inclusive ends).</param>
public readonly record struct ChunkSum(Digest Digest, Chunk Range);

/// <summary>
/// A validated chunksums list (PROTOCOL §2): contiguous chunks from byte 0 that cover the blob exactly, each with
/// its digest, and the URL to fetch the blob's bytes from.
/// </summary>
public sealed class ChunkSums
{
    /// <summary>The largest body read (bytes); a longer one is an error of the registry.</summary>
    public const int MaxBodyBytes = 16 << 20;

    /// <summary>The most chunks a list may have.</summary>
    public const int MaxChunks = 65536;

    /// <summary>The longest line accepted (bytes, without the line break).</summary>
    public const int MaxLineLength = 256;

    private ChunkSums(Uri location, ChunkSum[] chunks, Digest listDigest)
    {
        Location = location;
        Chunks = chunks;
        ListDigest = listDigest;
    }

    /// <summary>Where to GET the blob's bytes (the resolved <c>Content-Location</c>).</summary>
    public Uri Location { get; }

    /// <summary>The chunks in order.</summary>
    public IReadOnlyList<ChunkSum> Chunks { get; }

    /// <summary>The SHA-256 of the list in canonical form (<c>digest start-end\n</c> per chunk): what a resume marker is bound to.</summary>
    public Digest ListDigest { get; }

    /// <summary>
    /// Parses and validates a chunksums body for a blob of <paramref name="size"/> bytes. Every rule is checked
    /// before anything is returned, so no byte of the blob is fetched on the strength of a bad list.
    /// </summary>
    /// <param name="body">The response body.</param>
    /// <param name="size">The blob's size from the manifest.</param>
    /// <param name="location">The resolved URL to fetch the blob from.</param>
    /// <param name="blob">The blob, for messages.</param>
    /// <exception cref="RegistryProtocolException">The list breaks a rule; the message names the line and the rule.</exception>
    public static ChunkSums Parse(ReadOnlySpan<byte> body, long size, Uri location, Digest blob)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (body.Length > MaxBodyBytes)
        {
            throw Invalid(blob, 0, $"the list is longer than {MaxBodyBytes >> 20} MiB");
        }

        var chunks = new List<ChunkSum>();
        long next = 0;
        int line = 1;
        int lineStart = 0;
        int position = 0;
        Digest? pending = null;
        int pendingLine = 0;
        while (true)
        {
            // Skip whitespace, counting lines and checking each line's length as it ends.
            while (position < body.Length && IsSpace(body[position]))
            {
                if (body[position] == (byte)'\n')
                {
                    CheckLineLength(blob, line, position - lineStart);
                    line++;
                    lineStart = position + 1;
                }

                position++;
            }

            if (position == body.Length)
            {
                CheckLineLength(blob, line, position - lineStart);
                break;
            }

            int tokenStart = position;
            while (position < body.Length && !IsSpace(body[position]))
            {
                position++;
            }

            CheckLineLength(blob, line, position - lineStart);
            ReadOnlySpan<byte> token = body[tokenStart..position];
            if (pending is null)
            {
                if (!Digest.TryParseUtf8(token, out Digest digest))
                {
                    throw Invalid(blob, line, $"\"{Printable(token)}\" is not a digest (sha256: and 64 lower-case hex digits)");
                }

                pending = digest;
                pendingLine = line;
                continue;
            }

            if (!TryParseRange(token, out long start, out long end))
            {
                throw Invalid(blob, line, $"\"{Printable(token)}\" is not a byte range <start>-<end>");
            }

            if (start != next)
            {
                string what = start > next ? $"a gap: bytes {next}-{start - 1} are not covered" : $"an overlap: bytes {start}-{next - 1} are covered twice";
                throw Invalid(blob, line, $"range {start}-{end} leaves {what}");
            }

            if (end >= size)
            {
                throw Invalid(blob, line, $"range {start}-{end} goes past the end of the {size}-byte blob");
            }

            if (chunks.Count == MaxChunks)
            {
                throw Invalid(blob, line, $"more than {MaxChunks} chunks");
            }

            chunks.Add(new ChunkSum(pending.Value, new Chunk(start, end)));
            next = end + 1;
            pending = null;
        }

        if (pending is not null)
        {
            throw Invalid(blob, pendingLine, "a digest without a range (the list is cut short)");
        }

        if (next != size)
        {
            throw Invalid(blob, line, $"the chunks cover {next} of the blob's {size} bytes (the list is cut short, or the blob's size is wrong)");
        }

        return new ChunkSums(location, chunks.ToArray(), Digest.Compute(Encoding.ASCII.GetBytes(Format(chunks))));
    }

    /// <summary>
    /// The canonical text of a list: one <c>digest start-end</c> pair a line. The project's server writes it, and
    /// <see cref="ListDigest"/> is its SHA-256.
    /// </summary>
    public static string Format(IEnumerable<ChunkSum> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var text = new StringBuilder();
        foreach (ChunkSum chunk in chunks)
        {
            text.Append(CultureInfo.InvariantCulture, $"{chunk.Digest} {chunk.Range.Start}-{chunk.Range.End}\n");
        }

        return text.ToString();
    }

    private static bool TryParseRange(ReadOnlySpan<byte> token, out long start, out long end)
    {
        start = end = 0;
        int dash = token.IndexOf((byte)'-');
        if (dash <= 0 || dash == token.Length - 1)
        {
            return false;
        }

        Span<char> chars = stackalloc char[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            chars[i] = (char)token[i];
        }

        return ContentRange.TryParseDigits(chars[..dash], out start)
            && ContentRange.TryParseDigits(chars[(dash + 1)..], out end)
            && start <= end;
    }

    private static void CheckLineLength(Digest blob, int line, int length)
    {
        if (length > MaxLineLength)
        {
            throw Invalid(blob, line, $"the line is longer than {MaxLineLength} bytes");
        }
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    private static string Printable(ReadOnlySpan<byte> token)
    {
        string text = Encoding.Latin1.GetString(token[..Math.Min(token.Length, 80)]);
        return Digest.Printable(token.Length > 80 ? text + "..." : text);
    }

    private static RegistryProtocolException Invalid(Digest blob, int line, string problem) =>
        new($"the registry's chunksums for {blob.Short} are invalid at line {line}: {problem}", isTransient: true);
}
