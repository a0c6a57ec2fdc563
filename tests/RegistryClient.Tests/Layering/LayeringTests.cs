using System.Reflection;
using System.Text.RegularExpressions;

namespace RegistryClient.Tests.Layering;

/// <summary>
/// The library's folders keep their layers: what each namespace may use of the others, read from the source (every
/// <c>using</c>, and every name qualified with a sibling namespace, doc references included), and what the library
/// assembly may reference. A new forbidden edge fails here with the file and the line.
/// </summary>
public sealed partial class LayeringTests
{
    private static readonly string[] s_layers = ["Content", "Names", "Hashing", "Store", "Remote", "Transfer", "Maintenance"];

    /// <summary>What each namespace must not use. Everything else is allowed (the root facade may use all).</summary>
    private static readonly Dictionary<string, string[]> s_forbidden = new()
    {
        ["Content"] = ["Names", "Hashing", "Store", "Remote", "Transfer", "Maintenance"], // values only
        ["Names"] = ["Hashing", "Store", "Remote", "Transfer", "Maintenance"], // and Content only for a pinned name's Digest
        ["Hashing"] = ["Names", "Store", "Remote", "Transfer", "Maintenance"],
        ["Store"] = ["Remote", "Transfer", "Maintenance"],
        ["Remote"] = ["Store", "Transfer", "Maintenance", "Hashing"],
        ["Transfer"] = ["Maintenance"],
        ["Maintenance"] = [],
    };

    [GeneratedRegex(@"^\s*using\s+(?:static\s+)?(?:\w+\s*=\s*)?RegistryClient\.(\w+)", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();

    [GeneratedRegex(@"(?<![\w.])(?:RegistryClient\.)?(Content|Names|Hashing|Store|Remote|Transfer|Maintenance)\.[A-Z]\w*")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"^namespace\s+RegistryClient(?:\.(\w+))?;", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [Fact]
    public void EveryNamespace_UsesOnlyTheLayersItMay()
    {
        var violations = new List<string>();
        foreach ((string file, string layer, string[] lines) in LibrarySources())
        {
            string[] forbidden = s_forbidden.GetValueOrDefault(layer, []);
            for (int i = 0; i < lines.Length; i++)
            {
                foreach (string used in Uses(lines[i]))
                {
                    if (forbidden.Contains(used))
                    {
                        violations.Add($"{file}:{i + 1}: {layer} uses {used}: {lines[i].Trim()}");
                    }
                }
            }
        }

        Assert.True(violations.Count == 0, "forbidden references:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void EveryFolder_IsANamespaceTheRulesKnow()
    {
        string[] unknown = LibrarySources().Select(s => s.Layer).Distinct().Where(l => l.Length > 0 && !s_layers.Contains(l)).ToArray();
        Assert.True(unknown.Length == 0, $"namespaces without layering rules: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void TheLibrary_ReferencesNoWebConsoleOrCommandLineAssembly()
    {
        string[] references = typeof(RegistryClient.Store.ModelStore).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();

        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        Assert.DoesNotContain(references, r => r is "System.Console" or "Spectre.Console" or "System.CommandLine");
        Assert.DoesNotContain(references, r => r.StartsWith("RegistryClient.", StringComparison.Ordinal)); // not the CLI, not the server
    }

    [Fact]
    public void TheServer_NeedsNoInternalsOfTheLibrary()
    {
        Assembly library = typeof(RegistryClient.Store.ModelStore).Assembly;
        string[] friends = library.GetCustomAttributes<System.Runtime.CompilerServices.InternalsVisibleToAttribute>().Select(a => a.AssemblyName).ToArray();

        Assert.Equal(["RegistryClient.Tests"], friends);
    }

    [Fact]
    public void Transfer_SendsNoHttp()
    {
        string[] offending = LibrarySources()
            .Where(s => s.Layer == "Transfer")
            .SelectMany(s => s.Lines.Select((line, i) => (s.File, Line: i + 1, Text: line)))
            .Where(l => Regex.IsMatch(l.Text, @"\b(HttpRequestMessage|HttpResponseMessage|HttpClient|HttpContent|SendAsync|GetBlobUri|RangeHeaderValue)\b"))
            .Select(l => $"{l.File}:{l.Line}: {l.Text.Trim()}")
            .ToArray();

        Assert.True(offending.Length == 0, "HTTP in Transfer:\n" + string.Join("\n", offending));
    }

    /// <summary>The sibling namespaces a line names (directives and qualified names; plain // comments do not count).</summary>
    internal static IEnumerable<string> Uses(string line)
    {
        string code = line.TrimStart().StartsWith("//", StringComparison.Ordinal) && !line.TrimStart().StartsWith("///", StringComparison.Ordinal) ? string.Empty : line;
        foreach (Match match in UsingDirective().Matches(code))
        {
            yield return match.Groups[1].Value;
        }

        foreach (Match match in QualifiedName().Matches(code))
        {
            yield return match.Groups[1].Value;
        }
    }

    private static IEnumerable<(string File, string Layer, string[] Lines)> LibrarySources()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "RegistryClient.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("RegistryClient.sln not found");
        }

        string library = Path.Combine(root, "src", "RegistryClient");
        foreach (string file in Directory.EnumerateFiles(library, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string relative = Path.GetRelativePath(library, file);
            if (relative.StartsWith("obj", StringComparison.Ordinal) || relative.StartsWith("bin", StringComparison.Ordinal))
            {
                continue;
            }

            string text = File.ReadAllText(file);
            Match declared = NamespaceDeclaration().Match(text);
            Assert.True(declared.Success, $"{relative} declares no RegistryClient namespace");
            yield return (relative, declared.Groups[1].Value, text.Split('\n'));
        }
    }
}
