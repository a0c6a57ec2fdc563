using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RegistryClient.Cli.Output;
using RegistryClient.Maintenance;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc verify [--repair]</c>: check every blob and manifest of a store; mend what is damaged.</summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        Option<string?> models = CommonOptions.Models();
        var repair = new Option<bool>("--repair")
        {
            Description = "Fetch damaged and missing blobs again from the registry of a model that uses them (only the damaged chunks where the registry offers chunksums), then verify again",
        };
        var fast = new Option<bool>("--fast")
        {
            Description = "A scrub at disk speed: compare each blob with the XxHash128 fingerprints recorded when SHA-256 last proved it (by verify, or by a fast check's fallback). "
                + "It finds accidental damage since then (bit rot, a failing disk, a stray write), not deliberate tampering, which can rewrite the fingerprints too. "
                + "A blob without fingerprints gets the full SHA-256 check, which records them. Default: SHA-256 of every blob",
        };
        var json = new Option<bool>("--json") { Description = "Write the report as one JSON object" };
        Option<bool> insecure = CommonOptions.Insecure();
        Option<int> concurrency = CommonOptions.Concurrency();
        Option<bool> verbose = CommonOptions.Verbose();
        var transfer = CommonOptions.TransferOptions.Create();
        var command = new Command(
            "verify",
            "Check the store: every blob hashes to its name (all cores), every manifest's blobs exist with the right size; report corrupt, missing, orphaned and partial items by digest with the models that use them. Exit 1 when anything is damaged")
        {
            models, fast, repair, json, insecure, concurrency, verbose,
        };
        foreach (Option option in transfer.All)
        {
            command.Options.Add(option);
        }

        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            var store = ModelStore.Open(ModelStore.ResolveRoot(result.GetValue(models)));
            bool asJson = result.GetValue(json);
            (RegistryOptions registryOptions, PullOptions pullOptions) = CommonOptions.ApplyTransferLimits(
                result,
                CommonOptions.Registry(result.GetValue(insecure), store.ReadManifests().Select(m => m.Stored.Name.Host).Distinct()), // the registries the store's models name
                new PullOptions { Concurrency = result.GetValue(concurrency) }, transfer);
            var verifier = new StoreVerifier(store);
            VerifyReport report = await verifier.VerifyAsync(result.GetValue(fast), cancellationToken).ConfigureAwait(false);
            var output = new Dictionary<string, object>();
            if (!asJson || !result.GetValue(repair))
            {
                Write(report, store, asJson, output, "verify");
            }

            if (result.GetValue(repair) && !report.IsHealthy)
            {
                OutputMode mode = asJson ? OutputMode.Json : Console.IsOutputRedirected ? OutputMode.Plain : OutputMode.Terminal;
                using ServiceProvider services = CommonOptions.Services(registryOptions, result.GetValue(verbose));
                var view = new ProgressView(asJson ? OutputMode.Plain : mode, asJson ? TextWriter.Null : Console.Out);
                var repairer = new StoreRepairer(
                    services.GetRequiredService<RemoteRegistry>(), store, pullOptions, services.GetService<ILogger<ModelPuller>>());
                PullResult fetched = await view.RunAsync(repairer.RepairAsync(report, view.Tracker, cancellationToken)).ConfigureAwait(false);
                string line = $"repair fetched {fetched.BlobsFetched} blob(s): {Units.Bytes(fetched.BytesFetched)} downloaded, {Units.Bytes(fetched.BytesResumed)} of the damaged blobs kept";
                if (asJson)
                {
                    output["repair"] = new Dictionary<string, object> { ["blobs"] = fetched.BlobsFetched, ["downloaded"] = fetched.BytesFetched, ["kept"] = fetched.BytesResumed };
                }
                else
                {
                    Console.Out.WriteLine(line);
                }

                report = await verifier.VerifyAsync(result.GetValue(fast), cancellationToken).ConfigureAwait(false);
                Write(report, store, asJson, output, "after repair");
            }

            if (asJson)
            {
                Console.Out.WriteLine(JsonText.Serialize(output));
            }

            return report.IsHealthy ? ErrorReporter.Ok : ErrorReporter.Failed;
        });
        return command;
    }

    private static void Write(VerifyReport report, ModelStore store, bool asJson, Dictionary<string, object> output, string stage)
    {
        if (asJson)
        {
            output["healthy"] = report.IsHealthy;
            output["manifests"] = report.Manifests;
            output["blobs"] = report.Blobs;
            output["bytes"] = report.BytesHashed;
            output["comparedWithFingerprints"] = report.ComparedBlobs;
            output["seconds"] = Math.Round(report.Elapsed.TotalSeconds, 3);
            output["findings"] = report.Findings.Select(f => new Dictionary<string, object?>
            {
                ["kind"] = Kind(f.Kind),
                ["digest"] = f.Digest?.ToString(),
                ["path"] = f.Path,
                ["size"] = f.Size,
                ["models"] = f.Models,
                ["badChunks"] = f.BadChunks.Select(c => c.ToString()).ToArray(),
                ["detail"] = f.Detail,
            }).ToArray();
            return;
        }

        foreach (VerifyFinding finding in report.Findings)
        {
            string models = finding.Models.Count == 0 ? string.Empty : $" (used by {string.Join(", ", finding.Models)})";
            Console.Out.WriteLine($"{Kind(finding.Kind),-12} {finding.Detail}{models}");
        }

        double seconds = Math.Max(report.Elapsed.TotalSeconds, 0.001);
        int damage = report.Findings.Count(f => f.IsDamage);
        string verdict = damage == 0 ? "no damage" : $"{damage} damaged item(s)" + (stage == "verify" ? "; regc verify --repair fetches them again" : string.Empty);
        if (report.ComparedBlobs > 0)
        {
            Console.Out.WriteLine(
                $"fast check: {report.ComparedBlobs} of {report.Blobs} blob(s) compared with the fingerprints recorded when SHA-256 last proved them, the rest hashed by SHA-256; "
                + "this finds accidental damage since then, not tampering (regc verify without --fast hashes every blob)");
        }

        Console.Out.WriteLine(
            $"{stage}: {report.Blobs} blob(s), {Units.Bytes(report.BytesHashed)} checked at {Units.Rate(report.BytesHashed / seconds)} in {seconds:0.00} s, {report.Manifests} manifest(s) in {store.Root}: {verdict}");
    }

    private static string Kind(FindingKind kind) => kind switch
    {
        FindingKind.WrongSize => "wrong-size",
        FindingKind.BadManifest => "bad-manifest",
        _ => kind.ToString().ToLowerInvariant(),
    };
}
