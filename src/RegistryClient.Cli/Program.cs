using System.CommandLine;
using RegistryClient.Cli.Commands;

namespace RegistryClient.Cli;

/// <summary>The <c>regc</c> command.</summary>
internal static class Program
{
    /// <summary>SIGINT and SIGTERM for the whole process, registered before anything else runs.</summary>
    internal static Interruption Interruption { get; } = new();

    /// <summary>Set by a command for which a signal is the normal way to stop (<c>serve</c>): it then exits 0.</summary>
    internal static bool SignalIsNormalStop { get; set; }

    public static async Task<int> Main(string[] args)
    {
        Interruption interruption = Interruption;
        RootCommand root = CreateRootCommand();
        ParseResult parsed = root.Parse(args);
        bool asksForHelp = parsed.Action is System.CommandLine.Help.HelpAction
            || root.Options.OfType<VersionOption>().Any(version => parsed.GetResult(version) is not null);
        if (!asksForHelp && CommandLineMistakes.Find(parsed, root) is { } mistake)
        {
            // One line, like every other error, and the usage exit code.
            await Console.Error.WriteLineAsync($"error: {mistake}").ConfigureAwait(false);
            return ErrorReporter.Usage;
        }

        int code = await parsed.InvokeAsync(
            new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null },
            interruption.Token).ConfigureAwait(false);
        interruption.KeepAlive();
        return interruption.ExitCode is { } signalled && !(code == ErrorReporter.Ok && SignalIsNormalStop) ? signalled : code;
    }

    public static RootCommand CreateRootCommand() => new(
        "regc: pull, mirror, serve and verify models in OCI registries and Ollama-compatible stores.\n"
        + "Large layers come over parallel HTTP ranges and are verified while they arrive.")
    {
        PullCommand.Create(),
        PushCommand.Create(),
        TransferCopyCommand.Create(),
        ServeCommand.Create(),
        ListCommand.Create(),
        VerifyCommand.Create(),
        MirrorCommand.Create(),
        ShowCommand.Create(),
        CopyCommand.Create(),
        RmCommand.Create(),
        PruneCommand.Create(),
        LoginCommand.Create(),
        LoginCommand.CreateLogout(),
        DemoCommand.Create(),
    };
}
