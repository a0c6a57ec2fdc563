using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RegistryClient.Cli.Output;
using RegistryClient.Maintenance;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc mirror NAME... --to DIR</c>: copy models from registries or local stores into a store or OCI layout.</summary>
internal static class MirrorCommand
{
    private const string OciPrefix = "oci:";

    public static Command Create()
    {
        var names = new Argument<string[]>("NAME")
        {
            Description = "Models to mirror: registry names (llama3.2, host:port/ns/model:tag), or oci:DIR:REF to read an OCI layout. With --from-store, names in that store (none: all of them)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var to = new Option<string>("--to")
        {
            Description = "The folder to mirror into (created if needed)",
            Required = true,
            HelpName = "DIR",
        };
        var format = new Option<string>("--format")
        {
            Description = "ollama: an Ollama store (blobs/sha256-<hex>, manifests/...), servable by regc serve; oci: an OCI image layout (index.json, blobs/sha256/<hex>) for skopeo, oras and crane",
            DefaultValueFactory = _ => "ollama",
        };
        format.AcceptOnlyFromAmong("ollama", "oci");
        var allTags = new Option<bool>("--all-tags") { Description = "Mirror every tag of each named repository (from the registry's tags/list)" };
        var fromFile = new Option<string?>("--from-file") { Description = "Read more names from FILE, one per line (# starts a comment)", HelpName = "FILE" };
        var keepGoing = new Option<bool>("--keep-going") { Description = "When a model fails, mirror the others and report the failures at the end (exit 1)" };
        var fromStore = new Option<string?>("--from-store") { Description = "Read the models from this local store (Ollama store or OCI layout) instead of a registry: no network", HelpName = "DIR" };
        Option<bool> insecure = CommonOptions.Insecure();
        Option<int> concurrency = CommonOptions.Concurrency();
        Option<bool> verbose = CommonOptions.Verbose();
        var transfer = CommonOptions.TransferOptions.Create();
        var command = new Command(
            "mirror",
            "Mirror models into a folder: many models share one worker pool and each blob is fetched once; a multi-platform index is kept whole (every platform's manifest and blobs); resumable like pull; a summary at the end")
        {
            names, to, format, allTags, fromFile, keepGoing, fromStore, insecure, concurrency, verbose,
        };
        foreach (Option option in transfer.All)
        {
            command.Options.Add(option);
        }

        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            List<string> references = [.. result.GetValue(names) ?? []];
            if (result.GetValue(fromFile) is { } file)
            {
                references.AddRange(ReadNameFile(file));
            }

            StoreLayout layout = result.GetValue(format) == "oci" ? StoreLayout.Oci : StoreLayout.Ollama;
            var target = new ModelStore(result.GetValue(to)!, layout);
            OutputMode mode = Console.IsOutputRedirected ? OutputMode.Plain : OutputMode.Terminal;
            var outcome = new MirrorOutcome();

            // Local sources: --from-store DIR, and oci:DIR:REF names.
            if (result.GetValue(fromStore) is { } sourceRoot)
            {
                outcome.Add(await new StoreCopier(OpenLocal(sourceRoot), target).CopyAsync(references, cancellationToken).ConfigureAwait(false));
                references.Clear();
            }

            foreach (IGrouping<string, (string Dir, string Ref)> group in references.Where(IsOci).Select(SplitOci).GroupBy(o => o.Dir).ToArray())
            {
                outcome.Add(await new StoreCopier(OpenLocal(group.Key), target).CopyAsync(group.Select(g => g.Ref).ToArray(), cancellationToken).ConfigureAwait(false));
            }

            ModelName[] remote = references.Where(r => !IsOci(r)).Select(ModelName.Parse).ToArray();
            if (remote.Length > 0)
            {
                (RegistryOptions registryOptions, PullOptions pullOptions) = CommonOptions.ApplyTransferLimits(
                    result, CommonOptions.Registry(result.GetValue(insecure), remote.Select(n => n.Host)), new PullOptions { Concurrency = result.GetValue(concurrency), WholeIndex = true }, transfer);
                using ServiceProvider services = CommonOptions.Services(registryOptions, result.GetValue(verbose));
                RemoteRegistry registry = services.GetRequiredService<RemoteRegistry>();
                ILogger<ModelPuller>? logger = services.GetService<ILogger<ModelPuller>>();
                if (result.GetValue(allTags))
                {
                    remote = await ExpandTagsAsync(registry, remote, result.GetValue(keepGoing) ? outcome : null, cancellationToken).ConfigureAwait(false);
                }

                await PullAllAsync(registry, logger, target, remote, pullOptions, mode, result.GetValue(keepGoing), outcome, cancellationToken).ConfigureAwait(false);
            }

            if (outcome.Models == 0 && outcome.Failures.Count == 0)
            {
                throw new ArgumentException("name at least one model, --from-file FILE, or --from-store DIR");
            }

            foreach ((string name, string reason) in outcome.Failures)
            {
                Console.Error.WriteLine($"error: {name}: {ErrorReporter.OneLine(reason)}");
            }

            Console.Out.WriteLine(outcome.Summary(target));
            return outcome.Failures.Count == 0 ? ErrorReporter.Ok : ErrorReporter.Failed;
        });
        return command;
    }

    /// <summary>Pulls all models through one pool; with --keep-going, after a failure each model alone (finished blobs stay).</summary>
    private static async Task PullAllAsync(
        RemoteRegistry registry, ILogger<ModelPuller>? logger, ModelStore target, ModelName[] names, PullOptions options, OutputMode mode, bool keepGoing, MirrorOutcome outcome, CancellationToken cancellationToken)
    {
        var view = new ProgressView(mode, Console.Out);
        var puller = new ModelPuller(registry, target, options with { Progress = view.Tracker, Status = view.Status }, logger);
        try
        {
            outcome.Add(await view.RunAsync(puller.PullAsync(names, cancellationToken)).ConfigureAwait(false));
            return;
        }
        catch (Exception e) when (keepGoing && names.Length > 1 && e is not OperationCanceledException && e is not StoreException)
        {
            Console.Error.WriteLine($"warning: {ErrorReporter.OneLine(e.Message)}; mirroring the models one by one");
        }

        foreach (ModelName name in names)
        {
            try
            {
                outcome.Add(await new ModelPuller(registry, target, options, logger).PullAsync([name], cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not StoreException)
            {
                outcome.Failures.Add((name.DisplayName, e.Message));
            }
        }
    }

    /// <summary>Every tag of each repository; with <paramref name="failures"/>, a repository that cannot be listed is noted there and skipped.</summary>
    private static async Task<ModelName[]> ExpandTagsAsync(RemoteRegistry registry, ModelName[] names, MirrorOutcome? failures, CancellationToken cancellationToken)
    {
        var expanded = new List<ModelName>();
        foreach (ModelName name in names.DistinctBy(n => $"{n.Host}/{n.Repository}".ToLowerInvariant()))
        {
            try
            {
                IReadOnlyList<string> tags = await registry.ListTagsAsync(name, cancellationToken).ConfigureAwait(false);
                expanded.AddRange(tags.Select(tag => name.WithTag(tag)));
            }
            catch (Exception e) when (failures is not null && e is not OperationCanceledException)
            {
                failures.Failures.Add(($"{name.Host}/{name.Repository}", e.Message));
            }
        }

        return [.. expanded];
    }

    private static IEnumerable<string> ReadNameFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"--from-file: {path} does not exist");
        }

        return File.ReadAllLines(path)
            .Select(line => (line.Contains('#', StringComparison.Ordinal) ? line[..line.IndexOf('#', StringComparison.Ordinal)] : line).Trim())
            .Where(line => line.Length > 0);
    }

    private static bool IsOci(string reference) => reference.StartsWith(OciPrefix, StringComparison.Ordinal);

    /// <summary><c>oci:DIR:REF</c>: the folder ends at the first colon after the prefix, as in skopeo.</summary>
    private static (string Dir, string Ref) SplitOci(string reference)
    {
        string rest = reference[OciPrefix.Length..];
        int colon = rest.IndexOf(':', StringComparison.Ordinal);
        return colon <= 0 || colon == rest.Length - 1
            ? throw new ArgumentException($"{reference}: expected oci:DIR:REF, such as oci:/media/usb/models:library/llama3.2:latest")
            : (rest[..colon], rest[(colon + 1)..]);
    }

    /// <summary>A local store to read: an OCI layout when it has an oci-layout file, else an Ollama store.</summary>
    private static ModelStore OpenLocal(string root)
    {
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"the source store {Path.GetFullPath(root)} does not exist");
        }

        return ModelStore.Open(root);
    }

    /// <summary>The totals of a mirror run.</summary>
    private sealed class MirrorOutcome
    {
        public int Models { get; private set; }

        public int BlobsFetched { get; private set; }

        public int BlobsPresent { get; private set; }

        public long BytesFetched { get; private set; }

        public long BytesReused { get; private set; }

        public List<(string Name, string Reason)> Failures { get; } = [];

        private DateTime Started { get; } = DateTime.UtcNow;

        public void Add(PullResult result)
        {
            Models += result.Models.Count;
            BlobsFetched += result.BlobsFetched;
            BlobsPresent += result.BlobsCached;
            BytesFetched += result.BytesFetched;
            BytesReused += result.BytesCached + result.BytesResumed;
        }

        public string Summary(ModelStore target)
        {
            double seconds = Math.Max((DateTime.UtcNow - Started).TotalSeconds, 0.001);
            string failed = Failures.Count == 0 ? string.Empty : $"; {Failures.Count} model(s) failed";
            return $"mirrored {Models} model(s) into {target.Root} ({target.Layout.ToString().ToLowerInvariant()} layout) in {seconds:0.00} s: "
                + $"{BlobsFetched} blob(s), {Units.Bytes(BytesFetched)} fetched and verified; {BlobsPresent} blob(s) already there, {Units.Bytes(BytesReused)} reused{failed}";
        }
    }
}
