using System.CommandLine;
using RegistryClient.Cli.Output;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc show NAME</c>: a stored model's manifest, config and layers.</summary>
internal static class ShowCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The model (as regc list shows it)" };
        Option<string?> models = CommonOptions.Models();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command("show", "Show a stored model: manifest digest, media types, digests and sizes of its config and layers, and whether each blob is present") { name, models, verbose };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            var store = ModelStore.Open(ModelStore.ResolveRoot(result.GetValue(models)));
            var wanted = ModelName.Parse(result.GetValue(name)!);
            StoredManifest stored = store.FindManifest(wanted);
            (_, Manifest? manifest, byte[]? bytes, string? error) = store.ReadManifest(stored);
            if (manifest is null || bytes is null)
            {
                throw new InvalidManifestException($"the manifest of {stored.Name.DisplayName} cannot be read: {error}");
            }

            Console.Out.WriteLine($"model     {stored.Name.DisplayName}");
            Console.Out.WriteLine($"manifest  {Digest.Compute(bytes)} ({manifest.MediaType ?? "no media type"}, {bytes.Length} B)");
            Console.Out.WriteLine($"size      {Units.Bytes(manifest.TotalSize)} in {manifest.Blobs.Count} blob(s)");
            Console.Out.WriteLine($"modified  {stored.Modified.ToLocalTime():yyyy-MM-dd HH:mm}");
            var rows = new List<string[]> { new[] { "KIND", "MEDIA TYPE", "DIGEST", "SIZE", "PRESENT" } };
            IEnumerable<(string Kind, Descriptor Blob)> Parts(Manifest image) =>
                image.Layers.Select(l => ("layer", l)).Prepend(("config", image.Config));
            IEnumerable<(string Kind, Descriptor Blob)> all = manifest.IsIndex
                ? manifest.Children.SelectMany(c => Parts(c.Manifest).Prepend(($"manifest {c.Entry.Platform}", c.Entry.Descriptor)))
                : Parts(manifest);
            foreach ((string kind, Descriptor blob) in all)
            {
                string present = store.GetBlobSize(blob.Digest) == blob.Size ? "yes" : "no";
                rows.Add([kind, blob.MediaType, blob.Digest.ToString(), Units.Bytes(blob.Size), present]);
            }

            int[] widths = Enumerable.Range(0, 5).Select(i => rows.Max(r => r[i].Length)).ToArray();
            foreach (string[] row in rows)
            {
                Console.Out.WriteLine(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
            }

            return ErrorReporter.Ok;
        });
        return command;
    }
}
