using System.Diagnostics;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// A network namespace of the test's own with only a loopback interface, brought up with multicast on (the host's
/// loopback has none), so multicast DNS can be tried without touching any real network. Needs root and iproute2;
/// without them the test fails in CI and is skipped elsewhere. Deleted on dispose.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private static readonly string Ip = new[] { "/usr/sbin/ip", "/sbin/ip", "/bin/ip", "/usr/bin/ip" }.FirstOrDefault(File.Exists) ?? "/usr/sbin/ip";

    private NetworkNamespace(string name) => Name = name;

    public string Name { get; }

    /// <summary>The command prefix that runs a program inside.</summary>
    public string[] Exec => [Ip, "netns", "exec", Name];

    public static NetworkNamespace Create()
    {
        RequiredTool.Require(Ip, "iproute2");
        if (Environment.UserName != "root")
        {
            RequiredTool.Missing("network namespaces need root");
        }

        var space = new NetworkNamespace($"regc-{Guid.NewGuid():N}"[..16]);
        Run(Ip, "netns", "add", space.Name);
        try
        {
            Run([.. space.Exec, Ip, "link", "set", "lo", "up"]);
            Run([.. space.Exec, Ip, "link", "set", "lo", "multicast", "on"]);
            Run([.. space.Exec, Ip, "route", "add", "224.0.0.0/4", "dev", "lo"]);
        }
        catch
        {
            space.Dispose();
            throw;
        }

        return space;
    }

    public void Dispose() => Run(Ip, "netns", "del", Name);

    private static void Run(params string[] command)
    {
        using Process process = Process.Start(new ProcessStartInfo(command[0], command[1..]) { RedirectStandardError = true, UseShellExecute = false })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', command)}: {error}");
    }
}
