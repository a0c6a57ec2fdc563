using System.CommandLine;

namespace RegistryClient.Cli.Commands;

/// <summary>Runs a command's body and maps any failure to one line on stderr and an exit code.</summary>
internal static class CommandRunner
{
    public static void SetAction(Command command, Option<bool> verbose, Func<ParseResult, CancellationToken, Task<int>> body)
    {
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            try
            {
                return await body(parseResult, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                return ErrorReporter.Report(e, parseResult.GetValue(verbose), Console.Error, cancellationToken.IsCancellationRequested);
            }
        });
    }
}
