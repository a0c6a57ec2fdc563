using System.Globalization;

namespace RegistryClient.Content;

/// <summary>Strict parsing of <c>Content-Range: bytes first-last/total</c> (RFC 9110 §14.4).</summary>
public static class ContentRange
{
    /// <summary>
    /// Parses the one form a 206 may carry: <c>bytes a-b/n</c> or <c>bytes a-b/*</c>, digits only, a ≤ b,
    /// b &lt; n. Anything else (other units, spaces, signs, several values) is refused.
    /// </summary>
    public static bool TryParse(string? value, out long first, out long last, out long? total)
    {
        first = last = 0;
        total = null;
        if (value is null || !value.StartsWith("bytes ", StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> rest = value.AsSpan(6);
        int dash = rest.IndexOf('-');
        int slash = rest.IndexOf('/');
        if (dash <= 0 || slash <= dash + 1 || slash == rest.Length - 1)
        {
            return false;
        }

        if (!TryParseDigits(rest[..dash], out first) || !TryParseDigits(rest[(dash + 1)..slash], out last) || last < first)
        {
            return false;
        }

        ReadOnlySpan<char> totalText = rest[(slash + 1)..];
        if (totalText is "*")
        {
            return true;
        }

        if (!TryParseDigits(totalText, out long n) || last >= n)
        {
            return false;
        }

        total = n;
        return true;
    }

    /// <summary>Parses 1-19 ASCII digits (no sign, no spaces) into a non-negative value.</summary>
    public static bool TryParseDigits(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        if (text.Length is 0 or > 19)
        {
            return false;
        }

        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
