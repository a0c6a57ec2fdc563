using System.CommandLine;
using System.Globalization;
using RegistryClient.Cli.Output;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc list</c>: the models in a store.</summary>
internal static class ListCommand
{
    public static Command Create()
    {
        Option<string?> models = CommonOptions.Models();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command("list", "List the models in the store: name, manifest id, size, modified (also: ls)") { models, verbose };
        command.Aliases.Add("ls");
        CommandRunner.SetAction(command, verbose, (result, _) =>
        {
            var store = ModelStore.Open(ModelStore.ResolveRoot(result.GetValue(models)));
            var rows = new List<string[]> { new[] { "NAME", "ID", "SIZE", "MODIFIED" } };
            foreach (StoredManifest entry in store.ListManifests().OrderBy(m => m.Name.Key, StringComparer.Ordinal))
            {
                (StoredManifest _, Manifest? manifest, byte[]? bytes, string? _) = store.ReadManifest(entry);
                string id = bytes is null ? "-" : Digest.Compute(bytes).Short;
                string size = manifest is null ? "invalid" : Units.Bytes(manifest.TotalSize) + (manifest.IsIndex ? $" ({manifest.Children.Count} platforms)" : string.Empty);
                rows.Add([ShortName(entry.Name), id, size, entry.Modified.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)]);
            }

            int[] widths = Enumerable.Range(0, 4).Select(i => rows.Max(r => r[i].Length)).ToArray();
            foreach (string[] row in rows)
            {
                Console.Out.WriteLine(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
            }

            return Task.FromResult(ErrorReporter.Ok);
        });
        return command;
    }

    /// <summary>Ollama's short form: <c>model:tag</c> for the default registry and namespace, else the full name.</summary>
    public static string ShortName(ModelName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (string.Equals(name.Host, ModelName.DefaultHost, StringComparison.OrdinalIgnoreCase))
        {
            return string.Equals(name.Namespace, ModelName.DefaultNamespace, StringComparison.OrdinalIgnoreCase)
                ? $"{name.Model}:{name.Tag}"
                : $"{name.Namespace}/{name.Model}:{name.Tag}";
        }

        return $"{name.Host}/{name.Namespace}/{name.Model}:{name.Tag}";
    }
}
