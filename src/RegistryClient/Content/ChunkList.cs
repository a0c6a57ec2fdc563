using System.Globalization;
using System.Text;

namespace RegistryClient.Content;

/// <summary>
/// A validated chunk list (PROTOCOL §2): contiguous chunks from byte 0 that cover the blob exactly, each with the
/// SHA-256 of its bytes. Immutable.
/// </summary>
public sealed class ChunkList
{
    /// <summary>The largest body read (bytes); a longer one is an error of the registry.</summary>
    public const int MaxBodyBytes = 16 << 20;

    /// <summary>The most chunks a list may have.</summary>
    public const int MaxChunks = 65536;

    /// <summary>The longest line accepted (bytes, without the line break).</summary>
    public const int MaxLineLength = 256;

    private ChunkList(ChunkSum[] chunks, Digest listDigest)
    {
        Chunks = chunks;
        ListDigest = listDigest;
    }

    /// <summary>The chunks in order.</summary>
    public IReadOnlyList<ChunkSum> Chunks { get; }

    /// <summary>The length of the first chunk: the list's chunk size (the last chunk may be shorter).</summary>
    public long ChunkSize => Chunks.Count == 0 ? 0 : Chunks[0].Range.Length;

    /// <summary>The SHA-256 of the list in canonical form (<c>digest start-end\n</c> per chunk): what a resume marker is bound to.</summary>
    public Digest ListDigest { get; }

    /// <summary>
    /// Parses and validates a chunk list (a registry's chunksums body, a sidecar, a travelling chunk index) for a
    /// blob of <paramref name="size"/> bytes. Every rule is checked before anything is returned, so no byte of the
    /// blob is fetched or trusted on the strength of a bad list.
    /// </summary>
    /// <param name="body">The list's text.</param>
    /// <param name="size">The blob's size from the manifest.</param>
    /// <param name="blob">The blob, for messages.</param>
    /// <exception cref="InvalidChunkListException">The list breaks a rule; the message names the line and the rule.</exception>
    public static ChunkList Parse(ReadOnlySpan<byte> body, long size, Digest blob)
    {
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

        return new ChunkList(chunks.ToArray(), Digest.Compute(Encoding.ASCII.GetBytes(Format(chunks))));
    }

    /// <summary>
    /// The canonical text of a list: one <c>digest start-end</c> pair a line. The project's server writes it, and
    /// <see cref="ListDigest"/> is its SHA-256.
    /// </summary>
    /// <remarks>The list as bytes is <see cref="ToBytes"/>.</remarks>
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

    /// <summary>This list in canonical form (<see cref="Format"/>), as ASCII bytes.</summary>
    public byte[] ToBytes() => Encoding.ASCII.GetBytes(Format(Chunks));

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

    private static InvalidChunkListException Invalid(Digest blob, int line, string problem) => new(blob, line, problem);
}
