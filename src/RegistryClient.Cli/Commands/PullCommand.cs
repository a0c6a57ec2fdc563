using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RegistryClient.Cli.Output;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc pull NAME...</c>: pull models into an Ollama-compatible store.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("NAME")
        {
            Description = "Models to pull: llama3.2, namespace/model:tag, host:port/namespace/model:tag, or ...@sha256:<digest>",
            Arity = ArgumentArity.OneOrMore,
        };
        Option<string?> models = CommonOptions.Models();
        Option<bool> insecure = CommonOptions.Insecure();
        Option<int> concurrency = CommonOptions.Concurrency();
        Option<bool> json = CommonOptions.Json();
        Option<bool> verbose = CommonOptions.Verbose();
        var platform = new Option<string?>("--platform")
        {
            Description = "For multi-platform indexes: the os/arch[/variant] to pull. Default: this machine's",
        };
        var noChunkSums = new Option<bool>("--no-chunksums")
        {
            Description = "Do not ask the registry for chunksums; fetch every blob by own ranges, verified by its whole digest only",
        };
        var peer = new Option<string[]>("--peer")
        {
            Description = "Take chunks from another machine that has the model (its regc serve, http://HOST:PORT); repeatable, also $" + PeersVariable
                + " (comma-separated). Every chunk is checked against the origin's chunk digest as it arrives; a peer that serves a wrong one is dropped and named. "
                + "Manifests and chunk digests come from the origin only, and peers get no credentials",
            HelpName = "URL",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var discover = new Option<bool>("--discover")
        {
            Description = "Also take chunks from every regc serve --announce found on the local network (multicast DNS, 1.5 s), checked as --peer's are",
        };
        var transfer = CommonOptions.TransferOptions.Create();
        var command = new Command(
            "pull",
            "Pull models from a registry into the store; each blob is verified while it downloads (where the registry offers chunksums, a damaged chunk is found and fetched again alone), and an interrupted pull resumes without fetching verified bytes again")
        {
            names, models, insecure, concurrency, platform, noChunkSums, peer, discover, json, verbose,
        };
        foreach (Option option in transfer.All)
        {
            command.Options.Add(option);
        }

        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            ModelName[] parsed = result.GetValue(names)!.Select(ModelName.Parse).ToArray();
            var store = new ModelStore(ModelStore.ResolveRoot(result.GetValue(models)));
            OutputMode mode = result.GetValue(json) ? OutputMode.Json : Console.IsOutputRedirected ? OutputMode.Plain : OutputMode.Terminal;
            (RegistryOptions registryOptions, PullOptions pullOptions) = CommonOptions.ApplyTransferLimits(
                result,
                CommonOptions.Registry(result.GetValue(insecure), parsed.Select(n => n.Host)),
                new PullOptions
                {
                    Concurrency = result.GetValue(concurrency),
                    Platform = result.GetValue(platform),
                    ChunkSumsThreshold = result.GetValue(noChunkSums) ? long.MaxValue : new PullOptions().ChunkSumsThreshold,
                    Peers = [.. Peers(result.GetValue(peer)), .. result.GetValue(discover) ? await DiscoverAsync(cancellationToken).ConfigureAwait(false) : []],
                },
                transfer);
            try
            {
                await RunAsync(store, parsed, registryOptions, pullOptions, mode, result.GetValue(verbose), cancellationToken).ConfigureAwait(false);
                return ErrorReporter.Ok;
            }
            catch (Exception e) when (mode == OutputMode.Json && e is not OperationCanceledException)
            {
                new ProgressView(mode, Console.Out).WriteJson(new Dictionary<string, object> { ["error"] = ErrorReporter.OneLine(e.Message) });
                throw;
            }
        });
        return command;
    }

    /// <summary>The environment variable with peers for every pull: URLs, comma-separated.</summary>
    public const string PeersVariable = "REGC_PEERS";

    /// <summary>The peers of $REGC_PEERS and --peer, each an http(s) URL.</summary>
    /// <exception cref="ArgumentException">One is not an http(s) URL.</exception>
    internal static IReadOnlyList<Uri> Peers(string[]? given)
    {
        var peers = new List<Uri>();
        foreach (string text in (Environment.GetEnvironmentVariable(PeersVariable) ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Concat(given ?? []))
        {
            string withSlash = text.EndsWith('/') ? text : text + "/";
            if (!Uri.TryCreate(withSlash, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0 || uri.AbsolutePath != "/")
            {
                throw new ArgumentException($"a peer is http://HOST:PORT (or https://), like http://10.0.0.5:5000, not \"{text}\"");
            }

            peers.Add(uri);
        }

        return peers;
    }

    /// <summary>The regc serves announcing themselves on the local network, said on stderr.</summary>
    private static async Task<IReadOnlyList<Uri>> DiscoverAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<Uri> found = await Remote.LanDiscovery.DiscoverAsync(TimeSpan.FromSeconds(1.5), cancellationToken).ConfigureAwait(false);
        Console.Error.WriteLine(found.Count == 0
            ? "found no regc serve on the local network; pulling from the registry alone"
            : $"found {found.Count} regc serve(s) on the local network: {string.Join(", ", found)}");
        return found;
    }

    /// <summary>Pulls with progress shown in <paramref name="mode"/> and prints the summary.</summary>
    public static async Task<PullResult> RunAsync(
        ModelStore store, IReadOnlyList<ModelName> names, RegistryOptions registryOptions, PullOptions pullOptions, OutputMode mode, bool verbose, CancellationToken cancellationToken)
    {
        using ServiceProvider services = CommonOptions.Services(registryOptions, verbose);
        var view = new ProgressView(mode, Console.Out);
        var puller = new ModelPuller(
            services.GetRequiredService<RemoteRegistry>(),
            store,
            pullOptions,
            services.GetService<ILogger<ModelPuller>>());
        PullResult result = await view.RunAsync(puller.PullAsync(names, view.Tracker, cancellationToken)).ConfigureAwait(false);
        foreach (string warning in result.Warnings)
        {
            Console.Error.WriteLine($"warning: {ErrorReporter.OneLine(warning)}");
        }

        if (mode == OutputMode.Json)
        {
            view.WriteJson(new Dictionary<string, object> { ["status"] = "success" });
        }
        else
        {
            Console.Out.WriteLine(Summary(result, store));
        }

        return result;
    }

    public static string Summary(PullResult result, ModelStore store)
    {
        double seconds = Math.Max(result.Elapsed.TotalSeconds, 0.001);
        string models = string.Join(", ", result.Models.Select(m => m.Name.DisplayName));
        string fetched = result.BlobsFetched == 0
            ? "nothing to fetch"
            : $"fetched {result.BlobsFetched} blob(s), {Units.Bytes(result.BytesFetched)} downloaded at {Units.Rate(result.BytesFetched / seconds)}"
                + (result.BytesResumed > 0 ? $" and {Units.Bytes(result.BytesResumed)} resumed from an earlier pull" : string.Empty)
                + ", each verified on arrival";
        long fromPeers = result.BytesBySource.Where(s => s.Key != "origin").Sum(s => s.Value);
        if (fromPeers > 0)
        {
            fetched += $" ({Units.Bytes(fromPeers)} of it from {result.BytesBySource.Count(s => s.Key != "origin")} peer(s))";
        }

        string present = result.BlobsCached == 0 ? string.Empty : $"; {result.BlobsCached} blob(s), {Units.Bytes(result.BytesCached)} already present";
        return $"pulled {models} into {store.Root} in {seconds:0.00} s: {fetched}{present}";
    }
}
