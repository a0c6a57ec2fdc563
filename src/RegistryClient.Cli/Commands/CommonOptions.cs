using System.CommandLine;

namespace RegistryClient.Cli.Commands;

/// <summary>Options several commands share.</summary>
internal static class CommonOptions
{
    public static Option<string?> Models() => new("--models")
    {
        Description = "The model store to use. Default: $OLLAMA_MODELS, else ~/.ollama/models",
        HelpName = "DIR",
    };

    public static Option<bool> Verbose() => new("--verbose", "-v")
    {
        Description = "Show debug logs and, on errors, the stack trace",
    };

    public static Option<bool> Json() => new("--json")
    {
        Description = "Write progress as one JSON object per line (status, digest, total, completed), like Ollama's pull API",
    };

    public static Option<bool> Insecure() => new("--insecure")
    {
        Description = "Use plain http for registries named without a scheme (for local registries only)",
    };

    public static Option<int> Concurrency() => new("--concurrency", "-c")
    {
        Description = "Parallel range requests across all layers",
        DefaultValueFactory = _ => RegistryClient.Transfer.PullOptions.DefaultConcurrency,
        HelpName = "N",
    };
}
