namespace RegistryClient.Remote;

/// <summary>
/// Where credentials are looked up by default, as podman and skopeo do and then as Docker does, the first that has an
/// entry for a host winning: <c>$REGISTRY_AUTH_FILE</c> when set, else containers' <c>auth.json</c>
/// (<c>$XDG_RUNTIME_DIR/containers/auth.json</c>, then <c>~/.config/containers/auth.json</c>), then Docker's
/// <c>config.json</c> (<see cref="DockerConfig"/>, with its credential helpers). Files that do not exist are skipped.
/// </summary>
public sealed class CredentialFiles : ICredentialSource
{
    private readonly IReadOnlyList<DockerConfig> _files;

    private CredentialFiles(IReadOnlyList<DockerConfig> files) => _files = files;

    /// <summary>The files read, in the order they are asked.</summary>
    public IReadOnlyList<string> Paths => _files.Select(f => f.Path).ToArray();

    /// <summary>Reads the default files (see the type's summary).</summary>
    /// <exception cref="InvalidDataException">A file is not valid; the message names it.</exception>
    public static CredentialFiles Load()
    {
        var paths = new List<string>();
        if (Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE") is { Length: > 0 } authFile)
        {
            paths.Add(authFile);
        }
        else
        {
            if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime)
            {
                paths.Add(Path.Combine(runtime, "containers", "auth.json"));
            }

            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (home.Length > 0)
            {
                paths.Add(Path.Combine(home, ".config", "containers", "auth.json"));
            }
        }

        var files = paths.Where(File.Exists).Select(p => DockerConfig.Load(p)).ToList();
        files.Add(DockerConfig.Load());
        return new CredentialFiles(files);
    }

    /// <inheritdoc/>
    public RegistryCredential? Find(string authority)
    {
        foreach (DockerConfig file in _files)
        {
            if (file.Find(authority) is { } credential)
            {
                return credential;
            }
        }

        return null;
    }
}
