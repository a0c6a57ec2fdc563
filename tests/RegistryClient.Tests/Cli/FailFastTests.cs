using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RegistryClient.Store;
using RegistryClient.Tests.Hostile;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Cli;

/// <summary>
/// When nothing can work, regc says so at once, with the host and the cause, instead of waiting out a retry schedule
/// in silence. Each case runs the real binary with its default settings, and the time includes starting it.
/// </summary>
public sealed class FailFastTests : IDisposable
{
    private static readonly TimeSpan s_fast = TimeSpan.FromSeconds(3);

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<(string Line, TimeSpan Took)> PullFailingAsync(string name, params string[] extra)
    {
        var watch = Stopwatch.StartNew();
        var (exit, _, stderr) = await RegcProcess.RunAsync(["pull", name, "--models", _temp.Combine("models"), .. extra]);
        watch.Stop();
        Assert.True(exit == 1, stderr);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr);
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.Empty(new ModelStore(_temp.Combine("models")).ListManifests());
        return (lines[0], watch.Elapsed);
    }

    [Fact]
    public async Task ClosedPort_FailsAtOnce_NamingHostAndCause()
    {
        int port = FreePort();
        (string line, TimeSpan took) = await PullFailingAsync($"http://127.0.0.1:{port}/library/x");

        Assert.Equal($"error: cannot connect to 127.0.0.1:{port}: connection refused; check that the registry runs there and the port is right", line);
        Assert.True(took < s_fast, $"took {took.TotalSeconds:0.00} s");
    }

    [Fact]
    public async Task UnknownHost_FailsAtOnce_NamingHostAndCause()
    {
        (string line, TimeSpan took) = await PullFailingAsync("no-such-registry.invalid/library/x");

        Assert.StartsWith("error: cannot resolve the host name no-such-registry.invalid", line, StringComparison.Ordinal);
        Assert.True(took < s_fast, $"took {took.TotalSeconds:0.00} s");
    }

    [Fact]
    public async Task PlainHttpRegistry_ReachedOverHttps_SaysSo()
    {
        await using OwnRegistry registry = await OwnRegistry.StartAsync(new ModelStore(_temp.Combine("source")));

        (string line, TimeSpan took) = await PullFailingAsync($"{registry.HostAndPort}/library/x");

        Assert.Equal($"error: {registry.HostAndPort} answered plain HTTP: use --insecure or http://", line);
        Assert.True(took < s_fast, $"took {took.TotalSeconds:0.00} s");
    }

    [Fact]
    public async Task SilentServer_FailsWithinTheRequestTimeout()
    {
        await using var silent = new RawServer((stream, token) => Task.Delay(Timeout.Infinite, token));

        (string line, TimeSpan took) = await PullFailingAsync($"http://{silent.HostAndPort}/library/x", "--request-timeout", "2");

        Assert.StartsWith($"error: {silent.HostAndPort} accepted the connection but did not answer GET http://{silent.HostAndPort}/v2/library/x/manifests/latest within 2 s", line, StringComparison.Ordinal);
        Assert.True(took < TimeSpan.FromSeconds(2) + s_fast, $"took {took.TotalSeconds:0.00} s"); // one timeout, not three plus backoff
        Assert.Equal(1, silent.Connections);
    }

    [Fact]
    public async Task ConnectionThatIsNeverAccepted_FailsWithinTheConnectTimeout()
    {
        // A listener that never accepts, with its backlog full: further connection requests go unanswered.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
                try
                {
                    filler.Connect(IPAddress.Loopback, port);
                }
                catch (SocketException)
                {
                    // In progress, or already refused: either way the queue fills.
                }

                fillers.Add(filler);
            }

            (string line, TimeSpan took) = await PullFailingAsync($"http://127.0.0.1:{port}/library/x", "--connect-timeout", "1");

            Assert.StartsWith($"error: cannot connect to 127.0.0.1:{port}: no answer to the connection request", line, StringComparison.Ordinal);
            Assert.Contains("--connect-timeout", line, StringComparison.Ordinal);
            Assert.True(took < TimeSpan.FromSeconds(1) + s_fast, $"took {took.TotalSeconds:0.00} s");
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task RetryAfterFarBeyondTheCap_OnARegistryThatNeverAnswered_EndsAtOnce()
    {
        await using FaultServer server = await FaultServer.StartAsync(context => HostileFixture.AnswerAsync(context, 503, null, h => h.RetryAfter = "7200"));

        (string line, TimeSpan took) = await PullFailingAsync($"http://{server.HostAndPort}/library/x");

        Assert.Contains("503", line, StringComparison.Ordinal);
        Assert.Contains("the registry asks to come back in 2 h 0 min (Retry-After, at ", line, StringComparison.Ordinal);
        Assert.True(took < s_fast, $"took {took.TotalSeconds:0.00} s");
        Assert.Equal(1, server.CountRequests("/manifests/"));
    }

    [Fact]
    public async Task RetryAfterWithinTheCap_IsWaitedFor()
    {
        int requests = 0;
        await using FaultServer server = await FaultServer.StartAsync(context => Interlocked.Increment(ref requests) == 1
            ? HostileFixture.AnswerAsync(context, 503, null, h => h.RetryAfter = "1")
            : HostileFixture.AnswerAsync(context, 404, """{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"""));

        (string line, _) = await PullFailingAsync($"http://{server.HostAndPort}/library/x");

        Assert.Contains("not found", line, StringComparison.Ordinal); // the second answer, after the wait
        Assert.Equal(2, server.CountRequests("/manifests/"));
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}
