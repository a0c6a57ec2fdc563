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
            IEnumerable<string> hosts = references
                .Where(r => !r.StartsWith(ModelMirror.OciPrefix, StringComparison.Ordinal) && ModelName.TryParse(r, out _, out _))
                .Select(r => ModelName.Parse(r).Host);
            (RegistryOptions registryOptions, PullOptions pullOptions) = CommonOptions.ApplyTransferLimits(
                result, CommonOptions.Registry(result.GetValue(insecure), hosts), new PullOptions { Concurrency = result.GetValue(concurrency) }, transfer);
            using ServiceProvider services = CommonOptions.Services(registryOptions, result.GetValue(verbose));
            var mirror = new ModelMirror(services.GetRequiredService<RemoteRegistry>(), pullOptions, services.GetService<ILogger<ModelPuller>>());
            var options = new MirrorOptions { AllTags = result.GetValue(allTags), KeepGoing = result.GetValue(keepGoing), FromStore = result.GetValue(fromStore) };
            var view = new ProgressView(mode, Console.Out);
            MirrorResult mirrored = await view.RunAsync(mirror.MirrorAsync(references, target, options, view.Tracker, cancellationToken)).ConfigureAwait(false);

            foreach (string warning in mirrored.Warnings)
            {
                Console.Error.WriteLine($"warning: {ErrorReporter.OneLine(warning)}");
            }

            foreach (MirrorFailure failure in mirrored.Failures)
            {
                Console.Error.WriteLine($"error: {failure.Name}: {ErrorReporter.OneLine(failure.Reason)}");
            }

            Console.Out.WriteLine(Summary(mirrored, target));
            return mirrored.Failures.Count == 0 ? ErrorReporter.Ok : ErrorReporter.Failed;
        });
        return command;
    }

    internal static string Summary(MirrorResult result, ModelStore target)
    {
        double seconds = Math.Max(result.Elapsed.TotalSeconds, 0.001);
        string failed = result.Failures.Count == 0 ? string.Empty : $"; {result.Failures.Count} model(s) failed";
        return $"mirrored {result.Models} model(s) into {target.Root} ({target.Layout.ToString().ToLowerInvariant()} layout) in {seconds:0.00} s: "
            + $"{result.BlobsFetched} blob(s), {Units.Bytes(result.BytesFetched)} fetched and verified; {result.BlobsPresent} blob(s) already there, {Units.Bytes(result.BytesReused)} reused{failed}";
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
}
