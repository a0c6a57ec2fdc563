using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace RegistryClient.Store;

/// <summary>
/// Who writes a partial file: this process, named by an id (<c>&lt;pid&gt;-&lt;8 hex&gt;</c>) that goes into the
/// partial's file name. An owner file beside the partial records the host, process id and process start time, so
/// another process can tell a live owner from a dead one without relying on file locks (which NFS, Lustre and
/// similar file systems may grant to everyone).
/// </summary>
internal sealed class PartialOwner
{
    /// <summary>An owner on another host is taken for dead when its owner file has not been touched for this long.</summary>
    public static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How often a live owner touches its owner files.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(15);

    private const string Header = "regc-owner 1";

    private PartialOwner(string id, string host, int processId, long startTicks)
    {
        Id = id;
        Host = host;
        ProcessId = processId;
        StartTicks = startTicks;
    }

    /// <summary>This process, with a fresh random id.</summary>
    public static PartialOwner Current { get; } = CreateCurrent();

    public string Id { get; }

    public string Host { get; }

    public int ProcessId { get; }

    public long StartTicks { get; }

    /// <summary>The owner file's text.</summary>
    public string Serialize() => string.Create(CultureInfo.InvariantCulture, $"{Header}\nhost={Host}\npid={ProcessId}\nstart={StartTicks}\n");

    /// <summary>True for an id of the form this type makes (digits, a dash, 8 lower-case hex digits).</summary>
    public static bool IsValidId(ReadOnlySpan<char> id)
    {
        int dash = id.IndexOf('-');
        if (dash is <= 0 or > 10 || id.Length != dash + 9)
        {
            return false;
        }

        foreach (char c in id[..dash])
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        foreach (char c in id[(dash + 1)..])
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Whether the owner recorded in <paramref name="ownerFile"/> may still be writing. Same host: its process
    /// exists with the same start time. Other host: its owner file was touched within <see cref="HeartbeatTimeout"/>.
    /// No readable owner file: the partial was touched within that time.
    /// </summary>
    public static bool IsAlive(string ownerFile, string partialFile)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(ownerFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return RecentlyTouched(partialFile);
        }

        if (lines.Length < 4 || lines[0] != Header
            || !lines[1].StartsWith("host=", StringComparison.Ordinal)
            || !TryValue(lines[2], "pid=", out long pid) || pid is <= 0 or > int.MaxValue
            || !TryValue(lines[3], "start=", out long start))
        {
            return RecentlyTouched(ownerFile);
        }

        if (lines[1][5..] != Environment.MachineName)
        {
            return RecentlyTouched(ownerFile);
        }

        try
        {
            using var process = Process.GetProcessById((int)pid);
            return !process.HasExited && StartTicksOf(process) == start;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return false; // No such process.
        }
    }

    /// <summary>Sets a record's modified time to now (a heartbeat); a failure only makes another host wait less.</summary>
    public static void Touch(string path)
    {
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A missing heartbeat only makes another host wait less.
        }
    }

    /// <summary>Writes this owner's record at <paramref name="path"/> atomically.</summary>
    public void WriteTo(string path)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, Serialize());
        File.Move(temp, path, overwrite: true);
    }

    private static bool RecentlyTouched(string path)
    {
        try
        {
            DateTime touched = File.GetLastWriteTimeUtc(path);
            return touched.Year > 1601 && DateTime.UtcNow - touched < HeartbeatTimeout;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static bool TryValue(string line, string key, out long value)
    {
        value = 0;
        return line.StartsWith(key, StringComparison.Ordinal)
            && long.TryParse(line.AsSpan(key.Length), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private static long StartTicksOf(Process process)
    {
        // Whole seconds: the start time is derived from boot time and clock ticks, and may jitter below that.
        return process.StartTime.ToUniversalTime().Ticks / TimeSpan.TicksPerSecond;
    }

    private static PartialOwner CreateCurrent()
    {
        using var self = Process.GetCurrentProcess();
        string id = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        return new PartialOwner(id, Environment.MachineName, Environment.ProcessId, StartTicksOf(self));
    }
}
