using System.Diagnostics;

namespace RegistryClient.Transfer;

/// <summary>
/// Fault injection for the kill-and-resume tests: when the environment variable <c>REGC_TEST_CRASH_AT</c> names a
/// point, the process kills itself (SIGKILL, no clean-up of any kind) the first time it reaches that point. Unset,
/// as in any normal run, a point costs one comparison.
/// </summary>
internal static class CrashPoints
{
    /// <summary>The environment variable that names the point to die at.</summary>
    public const string Variable = "REGC_TEST_CRASH_AT";

    private static readonly string? Target = Environment.GetEnvironmentVariable(Variable);

    /// <summary>Dies here if this is the configured point.</summary>
    public static void Hit(string point)
    {
        if (Target is not null && string.Equals(Target, point, StringComparison.Ordinal))
        {
            using var self = Process.GetCurrentProcess();
            self.Kill();
        }
    }
}
