using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Logging;
using RegistryClient.Cli.Output;
using RegistryClient.Remote;

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
        Description = "Show debug logs on stderr (each request with its status and range, retries, redirects with query strings removed) and, on errors, the stack trace",
    };

    /// <summary>
    /// The services a command talks to registries through: the registry client over <paramref name="registry"/>, and
    /// with <paramref name="verbose"/> a console logger at Debug level on stderr (without it, nothing is logged: errors
    /// reach the user as one line from the command).
    /// </summary>
    public static ServiceProvider Services(RegistryOptions registry, bool verbose) => new ServiceCollection()
        .AddRegistryClient(o => o with { Registry = registry })
        .AddLogging(logging =>
        {
            logging.ClearProviders();
            if (verbose)
            {
                logging.SetMinimumLevel(LogLevel.Debug);
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss.fff ";
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
                logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            }
        })
        .BuildServiceProvider();

    public static Option<bool> Json() => new("--json")
    {
        Description = "Write progress as one JSON object per line (status, digest, total, completed), like Ollama's pull API",
    };

    public static Option<bool> Insecure() => new("--insecure")
    {
        Description = "For the registries of the names given only: plain http when the name has no scheme, or, with https://, "
            + "TLS without certificate checks. Storage hosts and token servers elsewhere are still verified; never a silent fallback",
    };

    /// <summary>
    /// The registry options every command starts from: credentials from Docker's config.json ($DOCKER_CONFIG or
    /// ~/.docker), the Ollama key ~/.ollama/id_ed25519, the CA bundle of $SSL_CERT_FILE, and --insecure for
    /// <paramref name="insecureHosts"/> only.
    /// </summary>
    public static RegistryClient.Remote.RegistryOptions Registry(bool insecure, IEnumerable<string> insecureHosts) => new()
    {
        InsecureHosts = insecure ? insecureHosts.ToHashSet(StringComparer.OrdinalIgnoreCase) : new HashSet<string>(),
        Credentials = RegistryClient.Remote.CredentialFiles.Load(),
        OllamaKeyPath = RegistryClient.Remote.OllamaKey.DefaultPath(),
        CaBundlePath = Environment.GetEnvironmentVariable("SSL_CERT_FILE") is { Length: > 0 } bundle ? bundle : null,
    };

    public static Option<string?> Creds() => new("--creds")
    {
        Description = "USER[:PASSWORD] for the target registry, instead of what Docker's config.json holds for it (as skopeo's --creds); without the password, it is asked for (or read from standard input when that is not a terminal)",
        HelpName = "USER[:PASSWORD]",
    };

    /// <summary><paramref name="registry"/> with --creds (<paramref name="given"/>) for <paramref name="host"/>, the other hosts' credentials as they were.</summary>
    public static RegistryClient.Remote.RegistryOptions WithCreds(RegistryClient.Remote.RegistryOptions registry, string host, string given) =>
        registry with { Credentials = new LoginCommand.OneCredential(RegistryClient.Remote.DockerConfig.Normalize(host), PushCommand.ParseCreds(given), registry.Credentials) };

    public static Option<string[]> PushChunkSize() => new("--chunk-size")
    {
        Description = "Bytes per upload request (64k to 1G), like 8M: an interrupted push sends at most the chunk in flight again; a blob no larger goes in one request. "
            + "HOST=SIZE sets it for one registry, and 0 sends whole blobs (for registries that take no chunks; one found refusing them gets whole blobs anyway). "
            + "Repeatable; also $" + PushChunkSizeVariable + " (comma-separated), which the options override. Default: 16M, doubling up to 128M while requests take under half a second",
        HelpName = "[HOST=]SIZE",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>The environment variable with default request sizes for pushes: <c>[HOST=]SIZE</c>, comma-separated.</summary>
    public const string PushChunkSizeVariable = "REGC_PUSH_CHUNK_SIZE";

    /// <summary>
    /// <paramref name="options"/> with the request sizes of <c>$REGC_PUSH_CHUNK_SIZE</c> and then <paramref name="given"/>
    /// (<c>[HOST=]SIZE</c> each; 0 means whole blobs, for a host only).
    /// </summary>
    /// <exception cref="ArgumentException">A value is not a size in range.</exception>
    public static RegistryClient.Transfer.PushOptions WithChunkSizes(RegistryClient.Transfer.PushOptions options, string[]? given)
    {
        string[] fromEnvironment = (Environment.GetEnvironmentVariable(PushChunkSizeVariable) ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        long chunk = options.ChunkSize;
        bool fixedSize = false;
        var byHost = new Dictionary<string, long>(options.ChunkSizeByHost, StringComparer.OrdinalIgnoreCase);
        foreach ((string value, string origin) in fromEnvironment.Select(v => (v, "$" + PushChunkSizeVariable)).Concat((given ?? []).Select(v => (v, "--chunk-size"))))
        {
            int equals = value.LastIndexOf('=');
            string? host = equals > 0 ? value[..equals] : null;
            string size = equals > 0 ? value[(equals + 1)..] : value;
            long bytes = 0;
            if ((size != "0" && !Units.TryParseBytes(size, out bytes)) || (bytes != 0 && bytes is < (64 << 10) or > (1L << 30)) || (bytes == 0 && host is null))
            {
                throw new ArgumentException($"{origin} takes [HOST=]SIZE with a size from 64k to 1G, like 8M (0 for whole blobs, with a host), not \"{value}\"");
            }

            if (host is null)
            {
                chunk = bytes;
                fixedSize = true;
            }
            else
            {
                byHost[host] = bytes;
            }
        }

        // A size given for all registries is kept as given; the default grows while requests are quick.
        return options with { ChunkSize = chunk, MaxChunkSize = fixedSize ? chunk : options.MaxChunkSize, ChunkSizeByHost = byHost };
    }

    public static Option<int> Concurrency() => new("--concurrency", "-c")
    {
        Description = "Parallel range requests across all layers",
        DefaultValueFactory = _ => RegistryClient.Transfer.PullOptions.DefaultConcurrency,
        HelpName = "N",
    };

    public static Option<double> StallTimeout() => new("--stall-timeout")
    {
        Description = "Seconds a transfer may deliver (almost) nothing (under 64 KiB) before it is dropped and continued from its last byte; after 3 such stalls in a row without progress it fails",
        DefaultValueFactory = _ => new RegistryClient.Transfer.PullOptions().StallTimeout.TotalSeconds,
        HelpName = "SECONDS",
    };

    public static Option<double> ConnectTimeout() => new("--connect-timeout")
    {
        Description = "Seconds a new connection (TCP and TLS) may take to set up. On the first request to a registry a failure to connect is reported at once; later it is retried",
        DefaultValueFactory = _ => new RegistryOptions().ConnectTimeout.TotalSeconds,
        HelpName = "SECONDS",
    };

    public static Option<double?> RequestTimeout() => new("--request-timeout")
    {
        Description = "Seconds a manifest, chunksums or token request may take to deliver its first 64 KiB (all of it, when smaller) "
            + "before it is tried again; after 3 such timeouts the command fails. Default: the stall timeout",
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

    public static Option<string?> Memory() => new("--memory")
    {
        Description = "The most memory for transfer buffers: each connection's 1 MiB read buffer, and received bytes kept in memory until the blob's hash reads them "
            + "(beyond it, bytes go through the page cache and are read back: slower, never wrong). Like 32M or 1G; the process takes about 35 MiB besides. Default 48M",
        HelpName = "SIZE",
    };

    public static Option<string?> RangeSize() => new("--range-size")
    {
        Description = "The size of each range request for a blob fetched without chunksums (from 64k to 1G), like 8M. Large blobs come in ranges of this size over --concurrency connections. Default 16M",
        HelpName = "SIZE",
    };

    public static Option<int> Retries() => new("--retries")
    {
        Description = "How often a failed request is tried again in a row without progress when the failure can pass (resets, stalls, 408/429/5xx), with exponential backoff and jitter. "
            + "An attempt that brought new bytes does not count: a transfer goes on as long as bytes flow",
        DefaultValueFactory = _ => new RegistryClient.Remote.RegistryOptions().MaxRetries,
        HelpName = "N",
    };

    public static Option<double> RetryWait() => new("--retry-wait")
    {
        Description = "Seconds before the first retry; later ones wait exponentially longer (capped at 30 s). Retry-After from the registry wins",
        DefaultValueFactory = _ => new RegistryClient.Remote.RegistryOptions().RetryDelay.TotalSeconds,
        HelpName = "SECONDS",
    };

    /// <summary>The transfer options of pull (and later mirror and verify --repair), created together.</summary>
    public sealed record TransferOptions(
        Option<double> StallTimeout, Option<double?> RequestTimeout, Option<double> ConnectTimeout, Option<int?> MaxConnections, Option<string?> LimitRate, Option<string?> Memory, Option<string?> RangeSize, Option<int> Retries, Option<double> RetryWait)
    {
        public static TransferOptions Create() => new(
            CommonOptions.StallTimeout(), CommonOptions.RequestTimeout(), CommonOptions.ConnectTimeout(), CommonOptions.MaxConnections(), CommonOptions.LimitRate(), CommonOptions.Memory(), CommonOptions.RangeSize(), CommonOptions.Retries(), CommonOptions.RetryWait());

        public IEnumerable<Option> All => [StallTimeout, RequestTimeout, ConnectTimeout, MaxConnections, LimitRate, Memory, RangeSize, Retries, RetryWait];
    }

    /// <summary>Applies the transfer options (a manifest request gets the stall timeout as its limit unless --request-timeout is given); throws <see cref="ArgumentException"/> with the option named.</summary>
    public static (RegistryClient.Remote.RegistryOptions Registry, RegistryClient.Transfer.PullOptions Pull) ApplyTransferLimits(
        ParseResult result,
        RegistryClient.Remote.RegistryOptions registry,
        RegistryClient.Transfer.PullOptions pull,
        TransferOptions options)
    {
        double stall = result.GetValue(options.StallTimeout);
        if (!(stall is > 0 and <= 86_400))
        {
            throw new ArgumentException($"--stall-timeout must be more than 0 and at most 86400 seconds, not {stall}");
        }

        double request = result.GetValue(options.RequestTimeout) ?? stall;
        if (!(request is > 0 and <= 86_400))
        {
            throw new ArgumentException($"--request-timeout must be more than 0 and at most 86400 seconds, not {request}");
        }

        double connect = result.GetValue(options.ConnectTimeout);
        if (!(connect is > 0 and <= 3600))
        {
            throw new ArgumentException($"--connect-timeout must be more than 0 and at most 3600 seconds, not {connect}");
        }

        int retries = result.GetValue(options.Retries);
        if (retries is < 0 or > 100)
        {
            throw new ArgumentException($"--retries must be from 0 to 100, not {retries}");
        }

        double wait = result.GetValue(options.RetryWait);
        if (!(wait is >= 0 and <= 600))
        {
            throw new ArgumentException($"--retry-wait must be from 0 to 600 seconds, not {wait}");
        }

        int? connections = result.GetValue(options.MaxConnections);
        if (connections is < 1 or > 256)
        {
            throw new ArgumentException($"--max-connections must be from 1 to 256, not {connections}");
        }

        long? rate = null;
        if (result.GetValue(options.LimitRate) is { } text)
        {
            if (!Units.TryParseBytes(text, out long parsed) || parsed < 1024)
            {
                throw new ArgumentException($"--limit-rate takes bytes per second of at least 1k, like 500k or 2M, not \"{text}\"");
            }

            rate = parsed;
        }

        long rangeSize = pull.RangeSize;
        if (result.GetValue(options.RangeSize) is { } range)
        {
            if (!Units.TryParseBytes(range, out rangeSize) || rangeSize is < (64 << 10) or > (1L << 30))
            {
                throw new ArgumentException($"--range-size takes a size from 64k to 1G, like 8M, not \"{range}\"");
            }
        }

        long memory = pull.MemoryLimit;
        if (result.GetValue(options.Memory) is { } size)
        {
            if (!Units.TryParseBytes(size, out memory) || memory < RegistryClient.Transfer.PullOptions.MinMemoryLimit)
            {
                throw new ArgumentException($"--memory takes a size of at least 8M, like 32M or 1G, not \"{size}\"");
            }
        }

        return (
            registry with
            {
                MaxConnectionsPerServer = connections,
                MaxRetries = retries,
                RetryDelay = TimeSpan.FromSeconds(wait),
                RequestTimeout = TimeSpan.FromSeconds(request), // by default, a manifest request that takes a whole stall timeout is stalled too
                ConnectTimeout = TimeSpan.FromSeconds(connect),
            },
            pull with
            {
                StallTimeout = TimeSpan.FromSeconds(stall),
                LimitRate = rate,
                MemoryLimit = memory,
                RangeSize = rangeSize,
                Concurrency = connections is { } n ? Math.Min(n, pull.Concurrency) : pull.Concurrency,
                DirectWrites = Environment.GetEnvironmentVariable(DirectIoVariable) != "0",
                StageReached = CrashAt(Environment.GetEnvironmentVariable(CrashAtVariable)),
            });
    }

    /// <summary><c>REGC_DIRECT_IO=0</c> keeps every write in the page cache (for comparisons, or a file system that misbehaves).</summary>
    public const string DirectIoVariable = "REGC_DIRECT_IO";

    /// <summary>
    /// For the crash-recovery tests only: <c>REGC_TEST_CRASH_AT=&lt;stage&gt;</c> kills the process (SIGKILL, no clean-up)
    /// the first time a pull reaches that stage (see <see cref="RegistryClient.Transfer.PullOptions.StageReached"/>).
    /// </summary>
    public const string CrashAtVariable = "REGC_TEST_CRASH_AT";

    private static Action<string>? CrashAt(string? stage) => string.IsNullOrEmpty(stage) ? null : reached =>
    {
        if (string.Equals(reached, stage, StringComparison.Ordinal))
        {
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            self.Kill();
        }
    };
}
