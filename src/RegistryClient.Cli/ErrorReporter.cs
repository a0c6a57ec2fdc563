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

        string? option = exception is ArgumentException { ParamName: { } name } ? OptionName(name) : null;
        error.WriteLine("error: " + OneLine(option is not null ? Describe((ArgumentException)exception, option) : exception.Message));
        if (verbose)
        {
            error.WriteLine(exception.ToString());
        }

        // A command-line mistake: a bad name, or an option the command or the library refused (named or not).
        bool usage = exception is InvalidModelNameException || option is not null || exception is ArgumentException { ParamName: null };
        return usage ? Usage : Failed;
    }

    /// <summary>
    /// An option the library refused, in the command line's words: "--concurrency must be from 1 to 64, not 0" instead
    /// of .NET's "must be from 1 to 64 (Parameter 'Concurrency') Actual value was 0.".
    /// </summary>
    private static string Describe(ArgumentException exception, string option)
    {
        string text = exception.Message;
        int cut = text.IndexOf($" (Parameter '{exception.ParamName}')", StringComparison.Ordinal);
        if (cut >= 0)
        {
            text = text[..cut];
        }

        string actual = exception is ArgumentOutOfRangeException { ActualValue: { } value } ? $", not {value}" : string.Empty;
        return $"{option} {text.TrimEnd('.')}{actual}";
    }

    /// <summary>
    /// The command-line option a library option's property stands for (MaxRetries is --retries); null for any other
    /// parameter name, whose exception is then reported as it is (a failure, not a usage mistake).
    /// </summary>
    private static string? OptionName(string property) => property switch
    {
        "Concurrency" => "--concurrency",
        "StallTimeout" => "--stall-timeout",
        "RequestTimeout" => "--request-timeout",
        "ConnectTimeout" => "--connect-timeout",
        "MaxRetries" => "--retries",
        "RetryDelay" => "--retry-wait",
        "MaxConnectionsPerServer" => "--max-connections",
        "LimitRate" => "--limit-rate",
        "MemoryLimit" => "--memory",
        "RangeSize" => "--range-size",
        _ => null,
    };

    public static string OneLine(string message)
    {
        string line = message.ReplaceLineEndings(" ").Trim();
        return line.Length > 1000 ? line[..1000] + "…" : line;
    }
}
