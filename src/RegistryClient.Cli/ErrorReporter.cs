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

        error.WriteLine("error: " + OneLine(exception is ArgumentException argument ? Describe(argument) : exception.Message));
        if (verbose)
        {
            error.WriteLine(exception.ToString());
        }

        return exception is InvalidModelNameException or ArgumentException ? Usage : Failed;
    }

    /// <summary>
    /// An option the library refused, in the command line's words: "--concurrency must be from 1 to 64, not 0" instead
    /// of .NET's "must be from 1 to 64 (Parameter 'Concurrency') Actual value was 0.".
    /// </summary>
    internal static string Describe(ArgumentException exception)
    {
        if (exception.ParamName is not { Length: > 0 } name)
        {
            return exception.Message;
        }

        string text = exception.Message;
        int cut = text.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal);
        if (cut >= 0)
        {
            text = text[..cut];
        }

        string actual = exception is ArgumentOutOfRangeException { ActualValue: { } value } ? $", not {value}" : string.Empty;
        return $"{OptionName(name)} {text.TrimEnd('.')}{actual}";
    }

    /// <summary>The command-line option for a library option's property name: MaxRetries is --retries, StallTimeout --stall-timeout.</summary>
    private static string OptionName(string property) => property switch
    {
        "MaxRetries" => "--retries",
        "RetryDelay" => "--retry-wait",
        "MaxConnectionsPerServer" => "--max-connections",
        "RequestTimeout" => "--request-timeout",
        _ => "--" + string.Concat(property.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : string.Empty) + char.ToLowerInvariant(c) : c.ToString())),
    };

    public static string OneLine(string message)
    {
        string line = message.ReplaceLineEndings(" ").Trim();
        return line.Length > 1000 ? line[..1000] + "…" : line;
    }
}
