using System.Diagnostics;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Cli;

/// <summary>
/// Signals in quick succession, at any moment of a run (while the runtime starts, while the manifest is fetched,
/// while blobs stream): regc always ends with 128 + the signal (130 or 143), one line at most, and a store that verifies.
/// </summary>
public sealed class SignalTests : IAsyncLifetime
{
    private const int SigTerm = 15;
    private const int SigInt = 2;

    private readonly TempDirectory _temp = new();
    private OwnRegistry _registry = null!;

    public async ValueTask InitializeAsync()
    {
        (ModelStore source, _) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/signals:latest", [24L << 20, 2_000], seed: 99);
        _registry = await OwnRegistry.StartAsync(source);
    }

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    [Theory]
    [InlineData(SigTerm, SigTerm)]
    [InlineData(SigInt, SigInt)]
    [InlineData(SigInt, SigTerm)]
    public async Task TwoSignals30MsApart_AtAnyPointOfTheFirstSecond_EndInTheSignalsExitCode(int first, int second)
    {
        var failures = new List<string>();
        for (int offset = 0; offset <= 1000; offset += 50)
        {
            string store = _temp.Combine($"store-{first}-{second}-{offset}");
            // A rate limit keeps the pull running past the first second.
            using RegcRun run = RegcProcess.Start(null, "pull", $"http://{_registry.HostAndPort}/library/signals:latest", "--models", store, "--limit-rate", "8M");
            await Task.Delay(offset, TestContext.Current.CancellationToken);
            Signal(run.Process, first);
            await Task.Delay(30, TestContext.Current.CancellationToken);
            Signal(run.Process, second);
            (int exit, _, string stderr) = await run.WaitAsync();

            if (exit != 128 + first)
            {
                failures.Add($"at {offset} ms: exit {exit}: {stderr}");
            }

            if (stderr.Contains("   at ", StringComparison.Ordinal) || stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length > 1)
            {
                failures.Add($"at {offset} ms: more than one line: {stderr}");
            }

            if (Directory.Exists(store))
            {
                StoreAuditor.AssertConsistent(new ModelStore(store));
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static void Signal(Process process, int signal)
    {
        if (!process.HasExited)
        {
            _ = Signals.Send(process.Id, signal); // it may have exited in between: then there is nothing to signal
        }
    }

}
