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

    public static Option<double> StallTimeout() => new("--stall-timeout")
    {
        Description = "Seconds a transfer may deliver (almost) nothing (under 64 KiB) before it is dropped and continued from its last byte; after 3 such stalls in a row it fails",
        DefaultValueFactory = _ => new RegistryClient.Transfer.PullOptions().StallTimeout.TotalSeconds,
        HelpName = "SECONDS",
    };

    public static Option<int?> MaxConnections() => new("--max-connections")
    {
        Description = "The most connections open to one host at once (also caps --concurrency). Default: no limit beyond --concurrency",
        HelpName = "N",
    };

    public static Option<string?> LimitRate() => new("--limit-rate")
    {
        Description = "The most bytes per second all downloads take together, like curl's: 500k, 2M, 1.5G. Default: no limit",
        HelpName = "RATE",
    };

    /// <summary>Applies --stall-timeout, --max-connections and --limit-rate; throws <see cref="ArgumentException"/> with the option named.</summary>
    public static (RegistryClient.Remote.RegistryOptions Registry, RegistryClient.Transfer.PullOptions Pull) ApplyTransferLimits(
        ParseResult result,
        RegistryClient.Remote.RegistryOptions registry,
        RegistryClient.Transfer.PullOptions pull,
        Option<double> stallTimeout,
        Option<int?> maxConnections,
        Option<string?> limitRate)
    {
        double stall = result.GetValue(stallTimeout);
        if (!(stall is > 0 and <= 86_400))
        {
            throw new ArgumentException($"--stall-timeout must be from 0 to 86400 seconds, not {stall}");
        }

        int? connections = result.GetValue(maxConnections);
        if (connections is < 1 or > 256)
        {
            throw new ArgumentException($"--max-connections must be from 1 to 256, not {connections}");
        }

        long? rate = null;
        if (result.GetValue(limitRate) is { } text)
        {
            if (!RegistryClient.Transfer.Units.TryParseBytes(text, out long parsed) || parsed < 1024)
            {
                throw new ArgumentException($"--limit-rate takes bytes per second of at least 1k, like 500k or 2M, not \"{text}\"");
            }

            rate = parsed;
        }

        return (
            registry with { MaxConnectionsPerServer = connections },
            pull with
            {
                StallTimeout = TimeSpan.FromSeconds(stall),
                LimitRate = rate,
                Concurrency = connections is { } n ? Math.Min(n, pull.Concurrency) : pull.Concurrency,
            });
    }
}
