using System.Globalization;

namespace RegistryClient.Cli.Output;

/// <summary>Human-readable sizes and durations for messages and progress.</summary>
internal static class Units
{
    /// <summary>A byte count with a binary unit: <c>512 B</c>, <c>1.5 MiB</c>, <c>12.0 GiB</c>.</summary>
    public static string Bytes(long bytes) => RegistryClient.Content.ByteSize.Format(bytes);

    /// <summary>
    /// Parses a byte count as curl's <c>--limit-rate</c> takes it: a number with an optional binary suffix
    /// <c>k</c>, <c>m</c> or <c>g</c> (any case; <c>KiB</c>, <c>MB</c> and the like too): <c>500k</c>, <c>2.5M</c>, <c>1048576</c>.
    /// </summary>
    public static bool TryParseBytes(string? text, out long bytes)
    {
        bytes = 0;
        string value = (text ?? string.Empty).Trim().ToUpperInvariant();
        foreach (string tail in new[] { "IB", "B" })
        {
            if (value.Length > tail.Length && value.EndsWith(tail, StringComparison.Ordinal) && char.IsLetter(value[^(tail.Length + 1)]))
            {
                value = value[..^tail.Length];
                break;
            }
        }

        int shift = value.Length == 0 ? 0 : value[^1] switch { 'K' => 10, 'M' => 20, 'G' => 30, _ => 0 };
        if (shift > 0)
        {
            value = value[..^1];
        }

        if (!double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number)
            || number <= 0 || number * (1L << shift) > long.MaxValue / 2)
        {
            return false;
        }

        bytes = (long)(number * (1L << shift));
        return bytes > 0;
    }

    /// <summary>An English ordinal: <c>1st</c>, <c>2nd</c>, <c>3rd</c>, <c>11th</c>, <c>22nd</c>.</summary>
    public static string Ordinal(int number)
    {
        string suffix = (number % 100) is 11 or 12 or 13 ? "th" : (number % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" };
        return string.Create(CultureInfo.InvariantCulture, $"{number}{suffix}");
    }

    /// <summary>A rate in bytes per second: <c>210.3 MiB/s</c>.</summary>
    public static string Rate(double bytesPerSecond) => Bytes((long)bytesPerSecond) + "/s";

    /// <summary>A duration as <c>1h02m</c>, <c>3m05s</c> or <c>42s</c>.</summary>
    public static string Duration(TimeSpan span)
    {
        if (span.TotalHours >= 1)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours}h{span.Minutes:00}m");
        }

        return span.TotalMinutes >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes}m{span.Seconds:00}s")
            : string.Create(CultureInfo.InvariantCulture, $"{Math.Max(0, (int)Math.Ceiling(span.TotalSeconds))}s");
    }
}
