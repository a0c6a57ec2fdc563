using System.Net;
using System.Net.Sockets;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>What the tests that start real programs share: the check that the program is there, and a free port.</summary>
public static class RequiredTool
{
    /// <summary>True when the tests run in CI (CI=true), where a missing program is a failure, never a skip.</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Skips the calling test outside CI when <paramref name="binary"/> is missing; in CI, fails it.</summary>
    public static void Require(string binary, string package)
    {
        if (File.Exists(binary))
        {
            return;
        }

        Missing($"{Path.GetFileName(binary)} is not installed (apt-get install -y {package})");
    }

    /// <summary>Ends the calling test for want of <paramref name="what"/>: a failure in CI, a skip elsewhere.</summary>
    public static void Missing(string what)
    {
        if (InCi)
        {
            Assert.Fail(what);
        }

        Assert.Skip(what);
    }

    /// <summary>A loopback port free at the moment of asking.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
