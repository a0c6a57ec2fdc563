using System.CommandLine;
using System.CommandLine.Parsing;

namespace RegistryClient.Cli;

/// <summary>
/// Names what is wrong with a command line in the user's terms before any work starts: an unknown command (with the
/// nearest one: <c>did you mean 'pull'?</c>), an unknown option (even where a command's arguments would take it as a
/// model name), or the parser's own first error.
/// </summary>
internal static class CommandLineMistakes
{
    /// <summary>The one-line problem with <paramref name="parsed"/>, or null when it can run.</summary>
    public static string? Find(ParseResult parsed, RootCommand root)
    {
        Command command = parsed.CommandResult.Command;
        if (command == root)
        {
            Token? first = parsed.Tokens.FirstOrDefault();
            if (first is null)
            {
                return "no command given; regc --help lists them";
            }

            if (first.Type != TokenType.Option && first.Type != TokenType.Directive)
            {
                string known = Nearest(first.Value, root.Subcommands.SelectMany(c => c.Aliases.Prepend(c.Name)));
                return $"unknown command '{first.Value}'" + (known.Length > 0 ? $"; did you mean '{known}'?" : "; regc --help lists the commands");
            }
        }

        // A token that looks like an option but that the command does not know: the parser would hand it to the
        // command's arguments (a model name) or leave it unmatched.
        IEnumerable<string> suspects = parsed.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).Select(t => t.Value)
            .Concat(parsed.UnmatchedTokens);
        foreach (string token in suspects)
        {
            if (token.Length > 1 && token[0] == '-' && !double.TryParse(token, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                string option = token.Split('=', 2)[0];
                string known = Nearest(option, command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)));
                string usage = command == root ? "regc --help" : $"regc {command.Name} --help";
                return $"unknown option '{option}'" + (known.Length > 0 ? $"; did you mean '{known}'?" : $" (see {usage})");
            }
        }

        if (parsed.Errors.Count > 0)
        {
            string usage = command == root ? "regc --help" : $"regc {command.Name} --help";
            return $"{ErrorReporter.OneLine(parsed.Errors[0].Message)} (see {usage})";
        }

        return null;
    }

    /// <summary>The candidate closest to <paramref name="typed"/> (at most a third of its letters edited), or empty.</summary>
    internal static string Nearest(string typed, IEnumerable<string> candidates)
    {
        string best = string.Empty;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates.Distinct(StringComparer.Ordinal))
        {
            int distance = Distance(typed.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        int allowed = Math.Max(1, typed.TrimStart('-').Length / 3);
        return bestDistance <= allowed ? best : string.Empty;
    }

    /// <summary>Levenshtein distance, with a swap of two neighbours counted as one edit.</summary>
    private static int Distance(string a, string b)
    {
        int[,] d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
