using RegistryClient.Names;

namespace RegistryClient.Cli;

/// <summary>Turns an exception into one clear line on stderr and an exit code; a stack trace only with --verbose.</summary>
internal static class ErrorReporter
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The operation failed.</summary>
    public const int Failed = 1;

    /// <summary>The command line was wrong.</summary>
    public const int Usage = 2;

    /// <summary>Interrupted by Ctrl-C (128 + SIGINT).</summary>
    public const int Interrupted = 130;

    public static int Report(Exception exception, bool verbose, TextWriter error, bool cancelled)
    {
        if (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            exception = aggregate.InnerExceptions[0];
        }

        if (exception is OperationCanceledException && cancelled)
        {
            error.WriteLine("interrupted; files already downloaded are kept (run the same command again to continue)");
            return Interrupted;
        }

        error.WriteLine("error: " + OneLine(exception.Message));
        if (verbose)
        {
            error.WriteLine(exception.ToString());
        }

        return exception is InvalidModelNameException or ArgumentException ? Usage : Failed;
    }

    public static string OneLine(string message)
    {
        string line = message.ReplaceLineEndings(" ").Trim();
        return line.Length > 1000 ? line[..1000] + "…" : line;
    }
}
