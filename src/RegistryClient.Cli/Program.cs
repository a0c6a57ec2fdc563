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
        if (parsed.Errors.Count > 0)
        {
            // One line, like every other error, and the usage exit code.
            string command = string.Join(' ', parsed.CommandResult.Command.Name == root.Name ? ["regc"] : ["regc", parsed.CommandResult.Command.Name]);
            Console.Error.WriteLine($"error: {ErrorReporter.OneLine(parsed.Errors[0].Message)} (see {command} --help)");
            return Task.FromResult(ErrorReporter.Usage);
        }

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
        LoginCommand.Create(),
        LoginCommand.CreateLogout(),
        DemoCommand.Create(),
    };
}
