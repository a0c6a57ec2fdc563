using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RegistryClient.Cli.Output;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc push NAME [--to TARGET]</c>: upload a model of the store to a registry, resumably.</summary>
internal static class PushCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "A model in the store (as regc list shows it); it goes to the registry its name names, unless --to says otherwise" };
        var to = new Option<string?>("--to")
        {
            Description = "Push under this name instead: host:port/namespace/model:tag (the store keeps its own name)",
            HelpName = "NAME",
        };
        Option<string[]> chunkSize = CommonOptions.PushChunkSize();
        Option<string?> creds = CommonOptions.Creds();
        Option<string?> models = CommonOptions.Models();
        Option<bool> insecure = CommonOptions.Insecure();
        var concurrency = new Option<int>("--concurrency", "-c")
        {
            Description = "Blobs uploaded at once (each blob's chunks go in order). Default 3",
            DefaultValueFactory = _ => new PushOptions().Concurrency,
        };
        Option<bool> json = CommonOptions.Json();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command(
            "push",
            "Push a model from the store to a registry, as ollama push does: blobs the registry has are skipped, the others go up in chunks, and an interrupted push (Ctrl-C, kill, reboot) continues where the registry's upload stands; the manifest goes last")
        {
            name, to, chunkSize, creds, models, insecure, concurrency, json, verbose,
        };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            var source = ModelName.Parse(result.GetValue(name)!);
            ModelName target = result.GetValue(to) is { } other ? ModelName.Parse(other) : source;
            PushOptions options = CommonOptions.WithChunkSizes(new PushOptions(), result.GetValue(chunkSize));
            int blobs = result.GetValue(concurrency);
            if (blobs is < 1 or > 64)
            {
                throw new ArgumentException($"--concurrency must be from 1 to 64, not {blobs}");
            }

            var store = ModelStore.Open(ModelStore.ResolveRoot(result.GetValue(models)));
            OutputMode mode = result.GetValue(json) ? OutputMode.Json : Console.IsOutputRedirected ? OutputMode.Plain : OutputMode.Terminal;
            RegistryOptions registry = CommonOptions.Registry(result.GetValue(insecure), [target.Host]);
            if (result.GetValue(creds) is { } given)
            {
                registry = CommonOptions.WithCreds(registry, target.Host, given);
            }

            using ServiceProvider services = CommonOptions.Services(registry, result.GetValue(verbose));
            var pusher = new ModelPusher(
                services.GetRequiredService<RemoteRegistry>(),
                store,
                options with { Concurrency = blobs },
                services.GetService<ILogger<ModelPusher>>());
            var view = new ProgressView(mode, Console.Out) { Verb = "pushing" };
            try
            {
                PushResult pushed = await view.RunAsync(pusher.PushAsync(source, target, view.Tracker, cancellationToken)).ConfigureAwait(false);
                if (pushed.Warning is { } warning)
                {
                    Console.Error.WriteLine($"warning: {ErrorReporter.OneLine(warning)}");
                }

                if (mode == OutputMode.Json)
                {
                    view.WriteJson(new Dictionary<string, object> { ["status"] = "success", ["digest"] = pushed.ManifestDigest.ToString() });
                }
                else
                {
                    Console.Out.WriteLine(Summary(pushed));
                }

                return ErrorReporter.Ok;
            }
            catch (Exception e) when (mode == OutputMode.Json && e is not OperationCanceledException)
            {
                view.WriteJson(new Dictionary<string, object> { ["error"] = ErrorReporter.OneLine(e.Message) });
                throw;
            }
        });
        return command;
    }

    /// <summary>USER:PASSWORD, or USER with the password asked for (or read from standard input).</summary>
    internal static RegistryCredential ParseCreds(string text)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string user = colon < 0 ? text : text[..colon];
        string? password = colon < 0
            ? Console.IsInputRedirected ? Console.In.ReadToEnd().TrimEnd('\r', '\n') : LoginCommand.Ask($"Password for {user}: ", secret: true)
            : text[(colon + 1)..];
        if (user.Length == 0 || string.IsNullOrEmpty(password))
        {
            throw new ArgumentException("--creds takes USER:PASSWORD, or USER and the password on standard input");
        }

        return new RegistryCredential(user, password);
    }

    internal static string Summary(PushResult result)
    {
        double seconds = Math.Max(result.Elapsed.TotalSeconds, 0.001);
        var parts = new List<string>();
        if (result.BlobsUploaded > 0)
        {
            parts.Add($"uploaded {result.BlobsUploaded} blob(s), {Units.Bytes(result.BytesUploaded)} at {Units.Rate(result.BytesUploaded / seconds)}"
                + (result.BlobsResumed > 0 ? $", {result.BlobsResumed} continuing an interrupted push" : string.Empty));
        }

        if (result.BlobsMounted > 0)
        {
            parts.Add($"mounted {result.BlobsMounted} blob(s) from the source repository");
        }

        if (result.BlobsPresent > 0)
        {
            parts.Add($"{result.BlobsPresent} blob(s) already there");
        }

        if (result.ChunkLists > 0)
        {
            parts.Add($"chunk digests of {result.ChunkLists} blob(s) sent beside it");
        }

        return $"pushed {result.Target.DisplayName} ({result.ManifestDigest.Short}) in {seconds:0.00} s: {string.Join("; ", parts.DefaultIfEmpty("nothing to upload"))}";
    }
}
