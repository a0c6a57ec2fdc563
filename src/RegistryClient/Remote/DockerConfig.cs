using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RegistryClient.Remote;

/// <summary>
/// Docker's <c>config.json</c> (<c>$DOCKER_CONFIG/config.json</c>, else <c>~/.docker/config.json</c>) as a source of
/// registry credentials: the <c>auths</c> entries with <c>auth</c> (base64 of <c>user:password</c>), <c>username</c> /
/// <c>password</c>, or <c>identitytoken</c>. <see cref="Save"/> and <see cref="Remove"/> rewrite the file atomically,
/// readable by its owner only, keeping every other key as it was. Keys are matched by host and port, whatever scheme
/// or path they were written with; Docker Hub's names (<c>docker.io</c>, <c>index.docker.io</c>,
/// <c>registry-1.docker.io</c>, <c>auth.docker.io</c>) are one host. Credential helpers are run as Docker runs them:
/// <c>credHelpers</c> names one for a host, <c>credsStore</c> one for all (<c>docker-credential-&lt;name&gt; get</c>, the
/// host on standard input, within <see cref="HelperTimeout"/>; an answer is kept for the life of this object, and the
/// secret is never logged or put in a message); where the helper has nothing, the <c>auths</c> entry is used. Reads
/// are safe from several threads; the file is read once, when loaded. The same format serves containers'
/// <c>auth.json</c> (<see cref="CredentialFiles"/>).
/// </summary>
public sealed class DockerConfig : ICredentialSource
{
    private static readonly string[] DockerHub = ["docker.io", "index.docker.io", "registry-1.docker.io", "auth.docker.io"];

    private readonly JsonObject _root;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, RegistryCredential?> _fromHelpers = new(StringComparer.Ordinal);

    /// <summary>How long a credential helper may take to answer.</summary>
    public static TimeSpan HelperTimeout { get; } = TimeSpan.FromSeconds(10);

    private DockerConfig(string path, JsonObject root)
    {
        Path = path;
        _root = root;
    }

    /// <summary>The file this configuration was read from and is written to.</summary>
    public string Path { get; }

    /// <summary>The authorities (host or host:port) that have an entry, normalised, sorted.</summary>
    public IReadOnlyList<string> Authorities => Auths?.Select(entry => Normalize(entry.Key)).Distinct().Order(StringComparer.Ordinal).ToArray() ?? [];

    private JsonObject? Auths => _root["auths"] as JsonObject;

    /// <summary>The default file: <c>$DOCKER_CONFIG/config.json</c>, else <c>~/.docker/config.json</c>.</summary>
    public static string DefaultPath()
    {
        string? directory = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
        if (string.IsNullOrEmpty(directory))
        {
            directory = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        }

        return System.IO.Path.Combine(directory, "config.json");
    }

    /// <summary>Reads <paramref name="path"/> (default: <see cref="DefaultPath"/>); a missing file is an empty configuration.</summary>
    /// <exception cref="InvalidDataException">The file is not a JSON object or its <c>auths</c> is not an object; the message names the file.</exception>
    public static DockerConfig Load(string? path = null)
    {
        path ??= DefaultPath();
        if (!File.Exists(path))
        {
            return new DockerConfig(path, []);
        }

        byte[] bytes = File.ReadAllBytes(path);
        JsonNode? node;
        try
        {
            node = bytes.Length == 0 ? new JsonObject() : JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { MaxDepth = 32, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON ({e.Message}); fix or remove it");
        }

        if (node is not JsonObject root || (root["auths"] is { } auths && auths is not JsonObject))
        {
            throw new InvalidDataException($"{path} is not a JSON object with an \"auths\" object; fix or remove it");
        }

        return new DockerConfig(path, root);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidDataException">The entry's <c>auth</c> is not base64 of <c>user:password</c>.</exception>
    public RegistryCredential? Find(string authority)
    {
        ArgumentNullException.ThrowIfNull(authority);
        string wanted = Normalize(authority);
        if (HelperFor(wanted) is { } helper
            && _fromHelpers.GetOrAdd($"{helper}\n{wanted}", _ => CredentialHelper.Get(helper, CredentialHelper.ServerUrl(wanted, DockerHub.Contains(wanted)), HelperTimeout)) is { } fromHelper)
        {
            return fromHelper;
        }

        if (Auths is not { } auths)
        {
            return null;
        }

        foreach ((string key, JsonNode? value) in auths)
        {
            if (value is JsonObject entry && SameHost(Normalize(key), wanted))
            {
                return Parse(key, entry);
            }
        }

        return null;
    }

    /// <summary>The helper configured for <paramref name="authority"/>: its <c>credHelpers</c> entry, else <c>credsStore</c>; null for none.</summary>
    private string? HelperFor(string authority)
    {
        if (_root["credHelpers"] is JsonObject helpers)
        {
            foreach ((string key, JsonNode? value) in helpers)
            {
                if (SameHost(Normalize(key), authority) && value is JsonValue name && name.TryGetValue(out string? helper) && CredentialHelper.IsValidName(helper))
                {
                    return helper;
                }
            }
        }

        return Text(_root, "credsStore") is { } store && CredentialHelper.IsValidName(store) ? store : null;
    }

    /// <summary>Sets the credential of <paramref name="authority"/> and writes the file (mode 0600, atomically).</summary>
    /// <exception cref="IOException">The file could not be written.</exception>
    public void Save(string authority, RegistryCredential credential)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(credential);
        RemoveEntries(authority);
        var entry = new JsonObject();
        if (credential.HasPassword)
        {
            entry["auth"] = credential.BasicParameter;
        }

        if (credential.IdentityToken is { } token)
        {
            entry["identitytoken"] = token;
        }

        if (Auths is null)
        {
            _root["auths"] = new JsonObject();
        }

        Auths![Normalize(authority)] = entry;
        Write();
    }

    /// <summary>Removes every entry of <paramref name="authority"/> and writes the file; false when there was none (nothing written).</summary>
    /// <exception cref="IOException">The file could not be written.</exception>
    public bool Remove(string authority)
    {
        ArgumentNullException.ThrowIfNull(authority);
        if (!RemoveEntries(authority))
        {
            return false;
        }

        Write();
        return true;
    }

    private bool RemoveEntries(string authority)
    {
        if (Auths is not { } auths)
        {
            return false;
        }

        string wanted = Normalize(authority);
        string[] keys = auths.Where(entry => SameHost(Normalize(entry.Key), wanted)).Select(entry => entry.Key).ToArray();
        foreach (string key in keys)
        {
            auths.Remove(key);
        }

        return keys.Length > 0;
    }

    private void Write()
    {
        string directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!;
        bool unix = !OperatingSystem.IsWindows();
        if (!Directory.Exists(directory))
        {
            if (unix)
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            else
            {
                Directory.CreateDirectory(directory);
            }
        }

        string temp = System.IO.Path.Combine(directory, $".config.json.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (unix)
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // secrets: owner only
            }

            using (var stream = new FileStream(temp, options))
            {
                using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
                _root.WriteTo(writer);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, Path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private RegistryCredential Parse(string key, JsonObject entry)
    {
        string? identityToken = Text(entry, "identitytoken");
        string? username = Text(entry, "username");
        string? password = Text(entry, "password");
        if (Text(entry, "auth") is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"the \"auth\" of {key} in {Path} is not base64; run regc login {Normalize(key)} again");
            }

            int colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new InvalidDataException($"the \"auth\" of {key} in {Path} is not base64 of user:password; run regc login {Normalize(key)} again");
            }

            username = decoded[..colon];
            password = decoded[(colon + 1)..];
        }

        if (string.IsNullOrEmpty(identityToken) && (string.IsNullOrEmpty(username) || password is null))
        {
            throw new InvalidDataException($"the entry of {key} in {Path} has neither user:password nor an identity token; run regc login {Normalize(key)} again");
        }

        return new RegistryCredential(username, password, identityToken);
    }

    private static string? Text(JsonObject entry, string name) =>
        entry[name] is JsonValue value && value.TryGetValue(out string? text) ? text : null;

    /// <summary>A config key or authority as <c>host[:port]</c>, lower case: no scheme, no path.</summary>
    public static string Normalize(string key)
    {
        string text = key.Trim();
        int scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            text = text[(scheme + 3)..];
        }

        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            text = text[..slash];
        }

        return text.ToLowerInvariant();
    }

    private static bool SameHost(string a, string b) =>
        a == b || (DockerHub.Contains(a) && DockerHub.Contains(b));
}
