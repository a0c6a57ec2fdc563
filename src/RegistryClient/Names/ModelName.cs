using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using RegistryClient.Content;

namespace RegistryClient.Names;

/// <summary>
/// A validated model reference, <c>[scheme://][host[:port]/][namespace/]model[:tag][@sha256:hex]</c>.
/// </summary>
/// <remarks>
/// Defaults: host <c>registry.ollama.ai</c>, namespace <c>library</c>, tag <c>latest</c>, scheme
/// <c>https</c>. Every part is checked before the value exists, so nothing unvalidated can reach
/// a URL or a store path. Names compare case-insensitively (<see cref="Key"/>); the text as the
/// user wrote it is kept in <see cref="Original"/> for display. Immutable and thread-safe.
/// </remarks>
public sealed class ModelName : IEquatable<ModelName>
{
    /// <summary>The registry used when a name has no host.</summary>
    public const string DefaultHost = "registry.ollama.ai";

    /// <summary>The namespace used when a name has none.</summary>
    public const string DefaultNamespace = "library";

    /// <summary>The tag used when a name has neither tag nor digest.</summary>
    public const string DefaultTag = "latest";

    private const int MaxPartLength = 80;
    private const int MaxDnsNameLength = 253;
    private const int MaxDnsLabelLength = 63;

    private static readonly string[] s_reservedNames =
    [
        "con", "prn", "aux", "nul",
        "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9",
        "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    ];

    private ModelName(string original, string scheme, bool schemeExplicit, string host, string ns, string model, string tag, Digest? digest)
    {
        Original = original;
        Scheme = scheme;
        IsSchemeExplicit = schemeExplicit;
        Host = host;
        Namespace = ns;
        Model = model;
        Tag = tag;
        Digest = digest;
        Key = string.Join('/', host, ns, model, tag).ToLowerInvariant() + (digest is { } d ? "@" + d : string.Empty);
    }

    /// <summary>The text as given.</summary>
    public string Original { get; }

    /// <summary><c>https</c> or <c>http</c>.</summary>
    public string Scheme { get; }

    /// <summary>True when the text named its scheme (<c>http://</c> or <c>https://</c>).</summary>
    public bool IsSchemeExplicit { get; }

    /// <summary>The registry host, with <c>:port</c> when one was given.</summary>
    public string Host { get; }

    /// <summary>The namespace (<c>library</c> by default).</summary>
    public string Namespace { get; }

    /// <summary>The model (repository) name.</summary>
    public string Model { get; }

    /// <summary>The tag; <c>latest</c> when neither tag nor digest was given, <c>sha256-&lt;hex&gt;</c> for a bare digest.</summary>
    public string Tag { get; }

    /// <summary>The pinned manifest digest, when the name ended in <c>@sha256:…</c>.</summary>
    public Digest? Digest { get; }

    /// <summary>The case-folded identity used for equality and for store paths.</summary>
    public string Key { get; }

    /// <summary>The repository path used in registry URLs: <c>namespace/model</c>.</summary>
    public string Repository => Namespace + "/" + Model;

    /// <summary>What to ask the registry's manifests endpoint for: the digest if pinned, else the tag.</summary>
    public string Reference => Digest?.ToString() ?? Tag;

    /// <summary>The full name, <c>host/namespace/model:tag</c>, for messages.</summary>
    public string DisplayName => $"{Host}/{Namespace}/{Model}:{Tag}" + (Digest is { } d ? "@" + d : string.Empty);

    /// <summary>
    /// The lower-cased path parts of the manifest in an Ollama store: host (with port), namespace, model, tag.
    /// </summary>
    public IReadOnlyList<string> StorePathParts =>
    [
        Host.ToLowerInvariant(),
        Namespace.ToLowerInvariant(),
        Model.ToLowerInvariant(),
        Tag.ToLowerInvariant(),
    ];

    /// <summary>The registry's base address for this name.</summary>
    /// <param name="insecure">Use plain http when the name did not choose its scheme.</param>
    public Uri RegistryUri(bool insecure)
    {
        string scheme = IsSchemeExplicit || !insecure ? Scheme : "http";
        return new Uri($"{scheme}://{Host}/", UriKind.Absolute);
    }

    /// <summary>This name with another tag (and no digest).</summary>
    /// <exception cref="InvalidModelNameException">The tag is not valid.</exception>
    public ModelName WithTag(string tag)
    {
        string? error = CheckPart("tag", tag, allowDot: true);
        if (error is not null)
        {
            throw new InvalidModelNameException($"invalid model name \"{Quote(tag)}\": {error}");
        }

        return new ModelName($"{Host}/{Namespace}/{Model}:{tag}", Scheme, IsSchemeExplicit, Host, Namespace, Model, tag, null);
    }

    /// <summary>Parses and validates a model name.</summary>
    /// <exception cref="InvalidModelNameException">The name breaks a rule; the message names the part and the rule.</exception>
    public static ModelName Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (TryParse(text, out ModelName? name, out string? error))
        {
            return name;
        }

        throw new InvalidModelNameException($"invalid model name \"{Quote(text)}\": {error}");
    }

    /// <summary>Parses and validates a model name; false with a reason when it breaks a rule.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out ModelName? name, [NotNullWhen(false)] out string? error)
    {
        name = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "the name is empty";
            return false;
        }

        if (text.Length > 1024)
        {
            error = "the name is longer than 1024 characters";
            return false;
        }

        string rest = text;
        string scheme = "https";
        bool schemeExplicit = false;
        int schemeEnd = rest.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
        {
            scheme = rest[..schemeEnd].ToLowerInvariant();
            if (scheme is not ("http" or "https"))
            {
                error = $"the scheme \"{Quote(rest[..schemeEnd])}\" is not http or https";
                return false;
            }

            schemeExplicit = true;
            rest = rest[(schemeEnd + 3)..];
        }

        Digest? digest = null;
        int at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            if (!Content.Digest.TryParse(rest.AsSpan(at + 1), out Digest parsed))
            {
                error = "the part after '@' must be a digest sha256:<64 lower-case hex digits>";
                return false;
            }

            digest = parsed;
            rest = rest[..at];
        }

        string? tag = null;
        int lastSlash = rest.LastIndexOf('/');
        int lastColon = rest.LastIndexOf(':');
        if (lastColon > lastSlash)
        {
            tag = rest[(lastColon + 1)..];
            rest = rest[..lastColon];
        }

        string[] parts = rest.Split('/');
        string host = DefaultHost;
        string ns = DefaultNamespace;
        string model;
        switch (parts.Length)
        {
            case 1:
                model = parts[0];
                break;
            case 2 when LooksLikeHost(parts[0]):
                host = parts[0];
                model = parts[1];
                break;
            case 2:
                ns = parts[0];
                model = parts[1];
                break;
            case 3:
                host = parts[0];
                ns = parts[1];
                model = parts[2];
                break;
            default:
                error = $"expected at most host/namespace/model, found {parts.Length} parts separated by '/'";
                return false;
        }

        if (schemeExplicit && parts.Length == 1)
        {
            error = "a name with a scheme must name its host";
            return false;
        }

        error = CheckHost(host)
            ?? CheckPart("namespace", ns, allowDot: false)
            ?? CheckPart("model", model, allowDot: true)
            ?? (tag is null ? null : CheckPart("tag", tag, allowDot: true));
        if (error is not null)
        {
            return false;
        }

        tag ??= digest is { } d ? d.FileName : DefaultTag;
        name = new ModelName(text, scheme, schemeExplicit, host, ns, model, tag, digest);
        return true;
    }

    /// <inheritdoc/>
    public bool Equals(ModelName? other) => other is not null && string.Equals(Key, other.Key, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ModelName);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Key);

    /// <summary>The full name, as <see cref="DisplayName"/>.</summary>
    public override string ToString() => DisplayName;

    private static bool LooksLikeHost(string part) =>
        part.Contains('.', StringComparison.Ordinal) || part.Contains(':', StringComparison.Ordinal)
        || part.Equals("localhost", StringComparison.OrdinalIgnoreCase);

    private static string? CheckHost(string host)
    {
        string name = host;
        int colon = host.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            name = host[..colon];
            string port = host[(colon + 1)..];
            if (port.Length is 0 or > 5 || !port.All(char.IsAsciiDigit)
                || int.Parse(port, CultureInfo.InvariantCulture) is < 1 or > 65535)
            {
                return $"the port \"{Quote(port)}\" of host \"{Quote(host)}\" must be a number from 1 to 65535";
            }
        }

        // What DNS (and a URL) can carry: at most 253 characters, each dot-separated label at most 63.
        if (name.Length > MaxDnsNameLength)
        {
            return $"the host name is {name.Length} characters long; a DNS name has at most {MaxDnsNameLength}";
        }

        string? error = CheckChars("host", name, allowDot: true, maxLength: MaxDnsNameLength);
        if (error is not null)
        {
            return error;
        }

        if (name.Split('.').FirstOrDefault(label => label.Length > MaxDnsLabelLength) is { } longLabel)
        {
            return $"the host name part \"{Quote(longLabel[..20])}…\" is {longLabel.Length} characters long; a DNS label has at most {MaxDnsLabelLength}";
        }

        return Uri.TryCreate($"http://{host}/", UriKind.Absolute, out _) ? null : $"the host \"{Quote(host)}\" is not a valid host name";
    }

    private static string? CheckPart(string what, string part, bool allowDot)
    {
        string? error = CheckChars(what, part, allowDot, MaxPartLength);
        if (error is null && Array.IndexOf(s_reservedNames, part.ToLowerInvariant()) >= 0)
        {
            error = $"the {what} \"{part}\" is a reserved device name";
        }

        return error;
    }

    private static string? CheckChars(string what, string part, bool allowDot, int maxLength)
    {
        if (part.Length == 0)
        {
            return $"the {what} is empty";
        }

        if (part.Length > maxLength)
        {
            return $"the {what} is longer than {maxLength} characters";
        }

        char first = part[0];
        if (!(char.IsAsciiLetterOrDigit(first) || first == '_'))
        {
            return $"the {what} \"{Quote(part)}\" must start with a letter, a digit or '_'";
        }

        foreach (char c in part)
        {
            bool ok = char.IsAsciiLetterOrDigit(c) || c is '_' or '-' || (allowDot && c == '.');
            if (!ok)
            {
                string allowed = allowDot ? "letters, digits, '_', '-' and '.'" : "letters, digits, '_' and '-'";
                return $"the {what} \"{Quote(part)}\" may contain only {allowed} (found {Describe(c)})";
            }
        }

        if (part.Contains("..", StringComparison.Ordinal))
        {
            return $"the {what} \"{Quote(part)}\" must not contain \"..\"";
        }

        if (part[^1] == '.')
        {
            return $"the {what} \"{Quote(part)}\" must not end with '.'";
        }

        return null;
    }

    private static string Describe(char c) =>
        char.IsControl(c) || char.IsWhiteSpace(c) || c > '~'
            ? string.Create(CultureInfo.InvariantCulture, $"U+{(int)c:X4}")
            : $"'{c}'";

    private static string Quote(string text) => Content.Digest.Printable(text);
}
