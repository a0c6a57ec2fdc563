using System.CommandLine;
using RegistryClient.Cli.Output;
using RegistryClient.Maintenance;
using RegistryClient.Store;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc prune [--dry-run]</c>: remove what the store no longer needs.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        Option<string?> models = CommonOptions.Models();
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be removed, and how much space it holds, without removing anything" };
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command(
            "prune",
            "Remove blobs no manifest names, partial downloads abandoned for over a day, leftover resume records, claims and chunk digest lists, and old temporary files. Never touches a running pull's files")
        {
            models, dryRun, verbose,
        };
        CommandRunner.SetAction(command, verbose, (result, _) =>
        {
            var store = ModelStore.Open(ModelStore.ResolveRoot(result.GetValue(models)));
            var pruner = new StorePruner(store);
            IReadOnlyList<PruneItem> items = pruner.Plan();
            bool dry = result.GetValue(dryRun);
            foreach (PruneItem item in items)
            {
                Console.Out.WriteLine($"{(dry ? "would remove" : "removing")} {Path.GetRelativePath(store.Root, item.Path)} ({Units.Bytes(item.Size)}): {item.Reason}");
            }

            long total = items.Sum(i => i.Size);
            long freed = dry ? 0 : StorePruner.Apply(items);
            string running = pruner.PullRunning ? "; a pull is running, so unused blobs were kept" : string.Empty;
            Console.Out.WriteLine(dry
                ? $"dry run: {items.Count} file(s), {Units.Bytes(total)} would be freed in {store.Root}{running}"
                : $"removed {items.Count} file(s), {Units.Bytes(freed)} freed in {store.Root}{running}");
            return Task.FromResult(ErrorReporter.Ok);
        });
        return command;
    }
}
