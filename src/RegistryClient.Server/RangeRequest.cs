using RegistryClient.Content;

namespace RegistryClient.Server;

/// <summary>
/// A parsed <c>Range</c> header against a blob of known size, following the distribution-spec conformance cases:
/// <c>a-b</c> (end clamped to the size), <c>a-</c>, <c>-n</c>; a start past the end, <c>a &gt; b</c> or <c>-0</c>
/// is unsatisfiable (416). Other units, bad syntax and multiple ranges are ignored (whole blob, 200).
/// </summary>
internal readonly record struct RangeRequest(bool IsPartial, bool Unsatisfiable, long Start, long Length)
{
    private static readonly RangeRequest s_whole = new(false, false, 0, 0);
    private static readonly RangeRequest s_unsatisfiable = new(false, true, 0, 0);

    public static RangeRequest Parse(string? header, long size)
    {
        if (string.IsNullOrEmpty(header) || !header.StartsWith("bytes=", StringComparison.Ordinal) || header.Contains(',', StringComparison.Ordinal))
        {
            return s_whole;
        }

        ReadOnlySpan<char> spec = header.AsSpan(6).Trim();
        int dash = spec.IndexOf('-');
        if (dash < 0)
        {
            return s_whole;
        }

        ReadOnlySpan<char> firstText = spec[..dash];
        ReadOnlySpan<char> lastText = spec[(dash + 1)..];
        if (firstText.IsEmpty)
        {
            if (!ContentRange.TryParseDigits(lastText, out long suffix))
            {
                return s_whole;
            }

            if (suffix == 0 || size == 0)
            {
                return s_unsatisfiable;
            }

            long take = Math.Min(suffix, size);
            return new RangeRequest(true, false, size - take, take);
        }

        if (!ContentRange.TryParseDigits(firstText, out long first))
        {
            return s_whole;
        }

        long last = size - 1;
        if (!lastText.IsEmpty)
        {
            if (!ContentRange.TryParseDigits(lastText, out last))
            {
                return s_whole;
            }

            if (last < first)
            {
                return s_unsatisfiable;
            }
        }

        if (first >= size)
        {
            return s_unsatisfiable;
        }

        last = Math.Min(last, size - 1);
        return new RangeRequest(true, false, first, last - first + 1);
    }
}
