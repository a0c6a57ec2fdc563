using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Cli;

/// <summary>Command-line mistakes get the answer a user needs, in one line, before any work starts.</summary>
public sealed class CommandLineMistakeTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static void AssertOneLine(string stderr, string expected)
    {
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr);
        Assert.Equal("error: " + expected, lines[0]);
    }

    [Theory]
    [InlineData("pull", "--foo", "unknown option '--foo' (see regc pull --help)")]
    [InlineData("pull", "--modles", "unknown option '--modles'; did you mean '--models'?")]
    [InlineData("verify", "--repiar", "unknown option '--repiar'; did you mean '--repair'?")]
    [InlineData("rm", "--force", "unknown option '--force' (see regc rm --help)")]
    public async Task UnknownOption_IsNamedAsAnOption_NotAModelName(string command, string option, string expected)
    {
        var (exit, _, stderr) = await RunAsync(command, option, "llama3.2", "--models", _temp.Combine("models"));

        Assert.Equal(2, exit);
        AssertOneLine(stderr, expected);
        Assert.False(Directory.Exists(_temp.Combine("models")));
    }

    [Theory]
    [InlineData("pul", "pull")]
    [InlineData("lsit", "list")]
    [InlineData("verfy", "verify")]
    [InlineData("mirorr", "mirror")]
    public async Task MisspelledCommand_SuggestsTheNearestOne(string typed, string meant)
    {
        var (exit, _, stderr) = await RunAsync(typed, "llama3.2");

        Assert.Equal(2, exit);
        AssertOneLine(stderr, $"unknown command '{typed}'; did you mean '{meant}'?");
    }

    [Fact]
    public async Task UnrelatedCommand_PointsToHelp()
    {
        var (exit, _, stderr) = await RunAsync("frobnicate");

        Assert.Equal(2, exit);
        AssertOneLine(stderr, "unknown command 'frobnicate'; regc --help lists the commands");
    }

    [Fact]
    public async Task Ls_IsList_AndCp_CopiesATagLocallyAsOllamaCpDoes()
    {
        var store = new ModelStore(_temp.Combine("models"));
        byte[] manifest = await SampleModel.CreateAsync(store, ModelName.Parse("llama3.2"), [100_000, 50], seed: 77, cancellationToken: TestContext.Current.CancellationToken);
        string[] blobsBefore = TestModels.Files(store.BlobsDirectory);

        var (exit, stdout, stderr) = await RunAsync("cp", "llama3.2", "mine/llama:tuned", "--models", store.Root);
        Assert.True(exit == 0, stderr);
        Assert.Contains("copied llama3.2:latest to mine/llama:tuned", stdout, StringComparison.Ordinal);
        Assert.Equal(manifest, File.ReadAllBytes(store.GetManifestPath(ModelName.Parse("mine/llama:tuned"))));
        Assert.Equal(blobsBefore, TestModels.Files(store.BlobsDirectory)); // blobs shared, nothing new
        StoreAuditor.AssertConsistent(store);

        (exit, stdout, stderr) = await RunAsync("ls", "--models", store.Root);
        Assert.True(exit == 0, stderr);
        Assert.Contains("llama3.2:latest", stdout, StringComparison.Ordinal);
        Assert.Contains("mine/llama:tuned", stdout, StringComparison.Ordinal);

        (exit, _, stderr) = await RunAsync("cp", "nothere", "other", "--models", store.Root);
        Assert.Equal(1, exit);
        Assert.Contains("is not in", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("--concurrency", "0", "--concurrency must be from 1 to 64, not 0")]
    [InlineData("--concurrency", "65", "--concurrency must be from 1 to 64, not 65")]
    [InlineData("--retries", "-1", "--retries must be from 0 to 100, not -1")]
    [InlineData("--memory", "4M", "--memory takes a size of at least 8M, like 32M or 1G, not \"4M\"")]
    [InlineData("--range-size", "2G", "--range-size takes a size from 64k to 1G, like 8M, not \"2G\"")]
    [InlineData("--memory", "lots", "--memory takes a size of at least 8M, like 32M or 1G, not \"lots\"")]
    public async Task OutOfRangeOption_SaysSoInTheCommandLinesWords(string option, string value, string expected)
    {
        var (exit, _, stderr) = await RunAsync("pull", "http://127.0.0.1:9/library/x", option, value, "--models", _temp.Combine("models"));

        Assert.Equal(2, exit);
        AssertOneLine(stderr, expected);
        Assert.DoesNotContain("Parameter", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Actual value", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NoHome_AndNoStoreGiven_RefusesInsteadOfWritingIntoTheWorkingDirectory(bool unset)
    {
        string workingDirectory = _temp.Combine("cwd");
        Directory.CreateDirectory(workingDirectory);
        var environment = unset ? null : new Dictionary<string, string> { ["HOME"] = _temp.Combine("no-such-home") };

        foreach (string[] args in new[] { new[] { "pull", "http://127.0.0.1:9/library/x" }, ["list"], ["verify"] })
        {
            var (exit, _, stderr) = await RegcProcess.RunWithoutAsync(workingDirectory, unset ? ["HOME", "OLLAMA_MODELS"] : ["OLLAMA_MODELS"], environment, args);

            Assert.Equal(1, exit);
            string why = unset ? "$HOME is not set" : $"the home folder {_temp.Combine("no-such-home")} does not exist";
            AssertOneLine(stderr, $"no model store: {why}; pass --models DIR or set OLLAMA_MODELS");
            Assert.Empty(Directory.GetFileSystemEntries(workingDirectory));
        }
    }

    [Fact]
    public async Task OverlongHost_IsABadName_BeforeAnyRequest()
    {
        string host = new string('a', 300) + ".example";
        var (exit, _, stderr) = await RunAsync("pull", $"{host}/library/x", "--models", _temp.Combine("models"));

        Assert.Equal(2, exit);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: invalid model name", lines[0], StringComparison.Ordinal);
        Assert.Contains("a DNS name has at most 253", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("Invalid URI", stderr, StringComparison.Ordinal);

        (exit, _, stderr) = await RunAsync("pull", $"{new string('b', 70)}.example/library/x", "--models", _temp.Combine("models"));
        Assert.Equal(2, exit);
        Assert.Contains("a DNS label has at most 63", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.Combine("models")));
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args) => RegcProcess.RunAsync(args);
}
