using System.Globalization;

namespace RegistryClient.Store;

/// <summary>
/// Where an upload of a blob to a registry stands: the session's latest location (only the latest is valid) and the
/// bytes it holds, as of <paramref name="Updated"/>. Kept in the store's state folder after every chunk, so a push
/// interrupted by Ctrl-C, a kill or a reboot asks the registry about that session instead of starting over.
/// </summary>
/// <param name="Location">The upload session's URL.</param>
/// <param name="Offset">Bytes the registry acknowledged.</param>
/// <param name="Updated">When this was recorded (registries expire sessions: distribution after a week).</param>
public sealed record UploadRecord(Uri Location, long Offset, DateTimeOffset Updated)
{
    /// <summary>The largest record read back (a URL and two numbers).</summary>
    internal const int MaxBytes = 16 << 10;

    /// <summary>Three lines: the location, the offset, the time in Unix seconds.</summary>
    internal string Format() => string.Create(CultureInfo.InvariantCulture, $"{Location.AbsoluteUri}\n{Offset}\n{Updated.ToUnixTimeSeconds()}\n");

    /// <summary>Reads <see cref="Format"/>'s text; null when it is not that (a damaged record is ignored, never trusted).</summary>
    internal static UploadRecord? Parse(string text)
    {
        string[] lines = text.Split('\n');
        return lines.Length >= 3
            && Uri.TryCreate(lines[0], UriKind.Absolute, out Uri? location)
            && (location.Scheme == Uri.UriSchemeHttp || location.Scheme == Uri.UriSchemeHttps)
            && long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out long offset)
            && long.TryParse(lines[2], NumberStyles.None, CultureInfo.InvariantCulture, out long seconds)
            && seconds < 253402300799
                ? new UploadRecord(location, offset, DateTimeOffset.FromUnixTimeSeconds(seconds))
                : null;
    }
}
