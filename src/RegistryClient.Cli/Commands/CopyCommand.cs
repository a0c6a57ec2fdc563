using System.CommandLine;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc cp SOURCE DESTINATION</c>: give a stored model a second name, as <c>ollama cp</c> does.</summary>
internal static class CopyCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SOURCE") { Description = "A model in the store (as regc list shows it)" };
        var destination = new Argument<string>("DESTINATION") { Description = "The new name: model[:tag], namespace/model:tag or host/namespace/model:tag" };
        Option<string?> models = CommonOptions.Models();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command("cp", "Copy a model to a new name in the store: the manifest is written again under that name, the blobs are shared (nothing is downloaded)")
        {
            source, destination, models, verbose,
        };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            var from = ModelName.Parse(result.GetValue(source)!);
            var to = ModelName.Parse(result.GetValue(destination)!);
            var store = ModelStore.Open(ModelStore.ResolveRoot(result.GetValue(models)));
            await store.CopyModelAsync(from, to, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine($"copied {ListCommand.ShortName(from)} to {ListCommand.ShortName(to)}");
            return ErrorReporter.Ok;
        });
        return command;
    }
}
