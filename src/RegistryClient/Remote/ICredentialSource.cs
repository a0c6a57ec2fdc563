namespace RegistryClient.Remote;

/// <summary>Where <see cref="RemoteRegistry"/> looks up what to log in with. Implementations must be safe to call from several threads.</summary>
public interface ICredentialSource
{
    /// <summary>The credential configured for <paramref name="authority"/> (<c>host</c> or <c>host:port</c>), or null for none.</summary>
    RegistryCredential? Find(string authority);
}
