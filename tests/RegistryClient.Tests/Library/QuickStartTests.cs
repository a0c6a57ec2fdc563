using RegistryClient.Content;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Library;

/// <summary>The README's library quick start runs as printed against a real registry (Debian's docker-registry).</summary>
public sealed class QuickStartTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private DockerRegistry _registry = null!;
    private byte[] _manifest = null!;

    public async ValueTask InitializeAsync()
    {
        _registry = await DockerRegistry.StartAsync();
        (ModelStore source, _manifest) = await TestModels.CreateAsync(_temp.Combine("source"), "registry.ollama.ai/library/quick:latest", [5L << 20, 2_000], seed: 15);
        using var pusher = new RegistryPusher(_registry.BaseAddress);
        await pusher.PushModelAsync(source, "library/quick", "latest", _manifest);
    }

    public async ValueTask DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        _temp.Dispose();
    }

    [Fact]
    public void TheReadmeSample_IsTheCodeCompiledHere()
    {
        string[] compiled = Between(File.ReadAllLines(RepositoryFile("tests", "RegistryClient.Tests", "Library", "QuickStart.cs")), "// README: begin", "// README: end");
        string readme = File.ReadAllText(RepositoryFile("README.md"));

        string block = string.Join('\n', Dedent(compiled));
        Assert.True(compiled.Length is > 3 and < 15, $"the sample has {compiled.Length} lines");
        Assert.Contains("```csharp\n" + block + "\n```", readme.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheReadmeSample_PullsAModelWithProgressAndHonoursCancellation()
    {
        string models = _temp.Combine("models");
        string name = $"http://{_registry.HostAndPort}/library/quick:latest";

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => QuickStart.PullAsync(name, models, new CancellationToken(canceled: true)));
        StoreAuditor.AssertNoManifests(new ModelStore(models));

        TextWriter console = Console.Out;
        var output = new StringWriter();
        string said;
        try
        {
            Console.SetOut(TextWriter.Synchronized(output));
            said = await QuickStart.PullAsync(name, models, TestContext.Current.CancellationToken);
            await Task.Delay(200, TestContext.Current.CancellationToken); // Progress<T> posts to the thread pool
        }
        finally
        {
            Console.SetOut(console);
        }

        Assert.Equal($"{name} is {Digest.Compute(_manifest)}: {(5L << 20) + 2_000 + ConfigSize()} bytes fetched, 0 were there", said);
        Assert.Contains("pulling manifest", output.ToString(), StringComparison.Ordinal);
        Assert.Contains($": {5L << 20} of {5L << 20} bytes", output.ToString(), StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(new ModelStore(models));
    }

    private long ConfigSize() => Manifest.Parse(_manifest).Config.Size;

    private static string[] Between(string[] lines, string begin, string end)
    {
        int from = Array.FindIndex(lines, l => l.Trim() == begin);
        int to = Array.FindIndex(lines, l => l.Trim() == end);
        Assert.True(from >= 0 && to > from, $"markers {begin} / {end} not found");
        return lines[(from + 1)..to];
    }

    private static IEnumerable<string> Dedent(string[] lines)
    {
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart());
    }

    private static string RepositoryFile(params string[] parts)
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "RegistryClient.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("RegistryClient.sln not found");
        }

        return Path.Combine([root, .. parts]);
    }
}
