using System.CommandLine;
using RegistryClient.Cli.Commands;

namespace RegistryClient.Cli;

/// <summary>The <c>regc</c> command.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args)
    {
        RootCommand root = CreateRootCommand();
        ParseResult parsed = root.Parse(args);
        return parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    public static RootCommand CreateRootCommand() => new(
        "regc: pull, mirror, serve and verify models in OCI registries and Ollama-compatible stores.\n"
        + "Large layers come over parallel HTTP ranges and are verified while they arrive.")
    {
        PullCommand.Create(),
        ServeCommand.Create(),
        ListCommand.Create(),
        VerifyCommand.Create(),
        MirrorCommand.Create(),
        ShowCommand.Create(),
        RmCommand.Create(),
        PruneCommand.Create(),
        DemoCommand.Create(),
    };
}
