using System.CommandLine;
using RegistryClient.Cli.Output;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Cli.Samples;
using RegistryClient.Server;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Cli.Commands;

/// <summary>
/// <c>regc demo</c>: the whole path on one machine. Generates a deterministic sample model, serves it with the
/// project's own registry on loopback, pulls it into a fresh store and prints a summary.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var size = new Option<int>("--size")
        {
            Description = "Size of the sample model's weights layer, in MiB",
            DefaultValueFactory = _ => 256,
            HelpName = "MiB",
        };
        var keep = new Option<bool>("--keep") { Description = "Keep the temporary stores and print where they are" };
        Option<int> concurrency = CommonOptions.Concurrency();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command("demo", "Generate a sample model, serve it on loopback and pull it through the full path")
        {
            size, keep, concurrency, verbose,
        };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            int mebibytes = result.GetValue(size);
            if (mebibytes is < 1 or > 65536)
            {
                throw new ArgumentException("--size must be from 1 to 65536 MiB");
            }

            string work = Path.Combine(Path.GetTempPath(), $"regc-demo-{Environment.ProcessId}");
            try
            {
                var source = new ModelStore(Path.Combine(work, "registry"));
                var target = new ModelStore(Path.Combine(work, "models"));
                Console.Out.WriteLine($"generating a {mebibytes} MiB sample model in {source.Root}");
                ModelName sample = ModelName.Parse("registry.ollama.ai/library/regc-demo:latest");
                await SampleModel.CreateAsync(source, sample, [mebibytes * (1L << 20), 1500, 120], seed: 42, cancellationToken).ConfigureAwait(false);

                RegistryServer server = await RegistryServer.StartAsync(new RegistryServerOptions { StoreRoot = source.Root }, cancellationToken).ConfigureAwait(false);
                await using (server.ConfigureAwait(false))
                {
                    ModelName name = ModelName.Parse($"http://{server.HostAndPort}/library/regc-demo:latest");
                    Console.Out.WriteLine($"serving it at {server.BaseAddress}; pulling {name} into {target.Root}");
                    OutputMode mode = Console.IsOutputRedirected ? OutputMode.Plain : OutputMode.Terminal;
                    var pullOptions = new PullOptions { Concurrency = result.GetValue(concurrency) };
                    await PullCommand.RunAsync(target, [name], new RegistryOptions(), pullOptions, mode, result.GetValue(verbose), cancellationToken).ConfigureAwait(false);

                    Console.Out.WriteLine("pulling again (everything is present, so nothing is fetched):");
                    await PullCommand.RunAsync(target, [name], new RegistryOptions(), pullOptions, OutputMode.Plain, result.GetValue(verbose), cancellationToken).ConfigureAwait(false);
                }

                if (result.GetValue(keep))
                {
                    Console.Out.WriteLine($"kept {work}");
                }

                return ErrorReporter.Ok;
            }
            finally
            {
                if (!result.GetValue(keep) && Directory.Exists(work))
                {
                    Directory.Delete(work, recursive: true);
                }
            }
        });
        return command;
    }
}
