using System.Net.Http.Headers;
using System.Text;

namespace RegistryClient.Remote;

/// <summary>
/// One challenge of a <c>WWW-Authenticate</c> header (RFC 9110 §11.6.1): its scheme (<c>Bearer</c>, <c>Basic</c>)
/// and its parameters (<c>realm</c>, <c>service</c>, <c>scope</c>), names lower-cased.
/// </summary>
internal sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    /// <summary>The challenges of a response, Bearer first, then Basic; others are dropped. Malformed parameters end that challenge's list.</summary>
    public static IReadOnlyList<AuthChallenge> From(HttpHeaderValueCollection<AuthenticationHeaderValue> headers)
    {
        var challenges = new List<AuthChallenge>();
        foreach (AuthenticationHeaderValue header in headers)
        {
            var challenge = new AuthChallenge(header.Scheme, ParseParameters(header.Parameter ?? string.Empty));
            if (challenge.IsBearer || challenge.IsBasic)
            {
                challenges.Add(challenge);
            }
        }

        return [.. challenges.OrderBy(c => c.IsBearer ? 0 : 1)];
    }

    /// <summary>Parses <c>name=value, name="quoted \"value\""</c>; stops at the first thing that is neither.</summary>
    internal static Dictionary<string, string> ParseParameters(string text)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        int i = 0;
        while (true)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }

            int nameStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',' && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i >= text.Length || text[i] != '=' || i == nameStart)
            {
                return parameters;
            }

            string name = text[nameStart..i].ToLowerInvariant();
            i++;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var builder = new StringBuilder();
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    builder.Append(text[i]);
                    i++;
                }

                if (i >= text.Length)
                {
                    return parameters; // An unterminated quote: drop the broken parameter.
                }

                i++;
                value = builder.ToString();
            }
            else
            {
                int valueStart = i;
                while (i < text.Length && text[i] != ',')
                {
                    i++;
                }

                value = text[valueStart..i].Trim();
            }

            parameters.TryAdd(name, value);
        }
    }
}
