using System.Text.Json;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Cli;

public sealed class CliTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private OwnRegistry _server = null!;

    public async ValueTask InitializeAsync()
    {
        (ModelStore source, _) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/cli:latest", [3L << 20, 100], seed: 5);
        _server = await OwnRegistry.StartAsync(source);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("a/b/c/d")]
    [InlineData("model:ta g")]
    public async Task Pull_InvalidName_IsOneLineAndExitCode2(string name)
    {
        var (exit, stdout, stderr) = await RegcProcess.RunAsync("pull", name, "--models", _temp.Combine("models"));

        Assert.Equal(2, exit);
        Assert.StartsWith("error: invalid model name", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.Combine("models", "blobs")));
    }

    [Fact]
    public async Task Pull_Json_StreamsOllamaStyleProgressAndSucceeds()
    {
        string models = _temp.Combine("models");
        var (exit, stdout, stderr) = await RegcProcess.RunAsync("pull", $"{_server.HostAndPort}/library/cli", "--insecure", "--json", "--models", models);

        Assert.True(exit == 0, stderr);
        JsonElement[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal("success", lines[^1].GetProperty("status").GetString());
        JsonElement weights = lines.Last(l => l.TryGetProperty("total", out JsonElement t) && t.GetInt64() == 3L << 20);
        Assert.Equal(3L << 20, weights.GetProperty("completed").GetInt64());
        Assert.StartsWith("sha256:", weights.GetProperty("digest").GetString(), StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(new ModelStore(models));

        var (listExit, list, _) = await RegcProcess.RunAsync("list", "--models", models);
        Assert.Equal(0, listExit);
        Assert.Contains($"{_server.HostAndPort}/library/cli:latest", list, StringComparison.Ordinal);
        Assert.Contains("3.0 MiB", list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_PlainOutput_EndsWithASummary()
    {
        var (exit, stdout, stderr) = await RegcProcess.RunAsync("pull", $"http://{_server.HostAndPort}/library/cli", "--models", _temp.Combine("models"));

        Assert.True(exit == 0, stderr);
        Assert.Contains("pulled ", stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1], StringComparison.Ordinal);
        Assert.Contains("verified and stored", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_UnreachableRegistry_IsOneClearLine()
    {
        var (exit, _, stderr) = await RegcProcess.RunAsync("pull", "http://127.0.0.1:9/library/x", "--models", _temp.Combine("models"));

        Assert.Equal(1, exit);
        Assert.StartsWith("error: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Help_ExplainsTheCommands()
    {
        var (exit, stdout, _) = await RegcProcess.RunAsync("--help");

        Assert.Equal(0, exit);
        foreach (string command in new[] { "pull", "serve", "list", "demo", "mirror", "verify", "show", "rm", "prune" })
        {
            Assert.Contains(command, stdout, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("pull")]
    [InlineData("mirror")]
    [InlineData("verify")]
    public async Task TransferCommands_TakeTheStallAndRateOptions(string command)
    {
        var (exit, stdout, _) = await RegcProcess.RunAsync(command, "--help");

        Assert.Equal(0, exit);
        foreach (string option in new[] { "--stall-timeout", "--request-timeout", "--max-connections", "--limit-rate", "--memory", "--retries", "--retry-wait" })
        {
            Assert.Contains(option, stdout, StringComparison.Ordinal);
        }

        string[] args = command switch
        {
            "pull" => ["pull", "x", "--stall-timeout", "-1"],
            "mirror" => ["mirror", "x", "--to", "y", "--stall-timeout", "-1"],
            _ => ["verify", "--models", Path.GetTempPath(), "--stall-timeout", "-1"],
        };
        (exit, _, string stderr) = await RegcProcess.RunAsync(args);
        Assert.Equal(2, exit); // refused as a bad command line, before any work
        Assert.StartsWith("error: --stall-timeout", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        (exit, _, stderr) = await RegcProcess.RunAsync([.. args[..^2], "--request-timeout", "0"]);
        Assert.Equal(2, exit);
        Assert.StartsWith("error: --request-timeout", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        (exit, _, stderr) = await RegcProcess.RunAsync(command, "--no-such-option");
        Assert.Equal(2, exit);
        Assert.StartsWith("error: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
