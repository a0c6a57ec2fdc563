using System.Globalization;

namespace RegistryClient.Content;

/// <summary>Byte counts for people: <c>512 B</c>, <c>1.5 MiB</c>, <c>12.0 GiB</c> (binary units, one decimal).</summary>
public static class ByteSize
{
    private static readonly string[] s_units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    /// <summary>Formats <paramref name="bytes"/> with the largest binary unit that keeps the number at least 1.</summary>
    public static string Format(long bytes)
    {
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < s_units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {s_units[unit]}");
    }
}
