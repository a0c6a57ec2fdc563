using System.CommandLine;
using RegistryClient.Cli.Output;
using RegistryClient.Maintenance;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc rm NAME...</c>: remove models and the blobs only they used.</summary>
internal static class RmCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("NAME") { Description = "Models to remove (as regc list shows them)", Arity = ArgumentArity.OneOrMore };
        Option<string?> models = CommonOptions.Models();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command("rm", "Remove models from the store: the manifest, then the blobs no other model uses (kept while a pull is running)") { names, models, verbose };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            var store = ModelStore.Open(ModelStore.ResolveRoot(result.GetValue(models)));
            var pruner = new StorePruner(store);
            foreach (ModelName name in result.GetValue(names)!.Select(ModelName.Parse).ToArray())
            {
                IReadOnlyList<PruneItem> removed = await pruner.RemoveModelAsync(name, cancellationToken).ConfigureAwait(false);
                string kept = pruner.PullRunning ? " (a pull is running in this store, so its blobs stay; regc prune removes them later)" : string.Empty;
                Console.Out.WriteLine($"deleted {ListCommand.ShortName(name)}: {removed.Count - 1} blob file(s), {Units.Bytes(removed.Sum(r => r.Size))} freed{kept}");
            }

            return ErrorReporter.Ok;
        });
        return command;
    }
}
