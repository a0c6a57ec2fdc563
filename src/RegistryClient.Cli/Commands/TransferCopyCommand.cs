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

/// <summary><c>regc copy SRC DST</c>: a model from a registry or an OCI layout to a registry or an OCI layout.</summary>
internal static class TransferCopyCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SRC") { Description = "A registry name (host:port/ns/model:tag) or an OCI layout reference (oci:DIR:REF)" };
        var destination = new Argument<string>("DST") { Description = "A registry name, or oci:DIR (an OCI layout, created if needed; the model keeps its name in it)" };
        Option<string?> creds = CommonOptions.Creds();
        Option<string?> models = CommonOptions.Models();
        Option<bool> insecure = CommonOptions.Insecure();
        Option<string[]> chunkSize = CommonOptions.PushChunkSize();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command(
            "copy",
            "Copy a model between registries and OCI layouts, as skopeo copy does, verified and resumable: registry to registry goes through the store (--models) and mounts blobs between repositories of one registry; to oci:DIR it is mirrored; from oci:DIR:REF it is pushed")
        {
            source, destination, creds, models, insecure, chunkSize, verbose,
        };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            string from = result.GetValue(source)!;
            string to = result.GetValue(destination)!;
            string[] hosts = new[] { from, to }
                .Where(r => !r.StartsWith(ModelMirror.OciPrefix, StringComparison.Ordinal))
                .Select(r => ModelName.Parse(r).Host)
                .ToArray();
            RegistryOptions registry = CommonOptions.Registry(result.GetValue(insecure), hosts);
            if (result.GetValue(creds) is { } given)
            {
                string target = to.StartsWith(ModelMirror.OciPrefix, StringComparison.Ordinal)
                    ? throw new ArgumentException("--creds is for a destination registry; this one is an OCI layout")
                    : ModelName.Parse(to).Host;
                registry = CommonOptions.WithCreds(registry, target, given);
            }

            using ServiceProvider services = CommonOptions.Services(registry, result.GetValue(verbose));
            var store = new ModelStore(ModelStore.ResolveRoot(result.GetValue(models)));
            PushOptions push = CommonOptions.WithChunkSizes(new PushOptions(), result.GetValue(chunkSize));
            var copier = new ModelCopier(services.GetRequiredService<RemoteRegistry>(), store, push: push, loggers: services.GetService<ILoggerFactory>());
            var view = new ProgressView(Console.IsOutputRedirected ? OutputMode.Plain : OutputMode.Terminal, Console.Out) { Verb = "copying" };
            CopyResult copied = await view.RunAsync(copier.CopyAsync(from, to, view.Tracker, cancellationToken)).ConfigureAwait(false);
            if (copied.Pushed?.Warning is { } warning)
            {
                Console.Error.WriteLine($"warning: {ErrorReporter.OneLine(warning)}");
            }

            Console.Out.WriteLine(copied.Pushed is { } pushed
                ? PushCommand.Summary(pushed)
                : MirrorCommand.Summary(copied.Mirrored!, new ModelStore(to[ModelMirror.OciPrefix.Length..], StoreLayout.Oci)));
            return ErrorReporter.Ok;
        });
        return command;
    }
}
