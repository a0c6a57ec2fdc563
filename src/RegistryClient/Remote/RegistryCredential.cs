namespace RegistryClient.Remote;

/// <summary>
/// What a user gave to log in to one registry: a user name and password, or an identity (refresh) token.
/// <see cref="ToString"/> never shows a secret, so a credential can be logged or put in a message safely.
/// </summary>
public sealed class RegistryCredential
{
    /// <summary>Creates a credential.</summary>
    /// <param name="username">The user name; null for an identity token alone.</param>
    /// <param name="password">The password or an access token used as one.</param>
    /// <param name="identityToken">An OAuth2 refresh token (Docker's <c>identitytoken</c>); null when absent.</param>
    /// <exception cref="ArgumentException">Neither a user name with a password nor an identity token is given.</exception>
    public RegistryCredential(string? username, string? password, string? identityToken = null)
    {
        if (string.IsNullOrEmpty(identityToken) && (string.IsNullOrEmpty(username) || password is null))
        {
            throw new ArgumentException("a credential needs a user name and a password, or an identity token");
        }

        Username = string.IsNullOrEmpty(username) ? null : username;
        Password = password;
        IdentityToken = string.IsNullOrEmpty(identityToken) ? null : identityToken;
    }

    /// <summary>The user name; null when only an identity token is known.</summary>
    public string? Username { get; }

    /// <summary>The password; null when only an identity token is known.</summary>
    public string? Password { get; }

    /// <summary>An OAuth2 refresh token for the registry's token server; null when absent.</summary>
    public string? IdentityToken { get; }

    /// <summary>True when HTTP Basic can be sent (a user name and a password are known).</summary>
    public bool HasPassword => Username is not null && Password is not null;

    /// <summary>The value of a Basic <c>Authorization</c> header: base64 of <c>user:password</c>.</summary>
    /// <exception cref="InvalidOperationException">Only an identity token is known.</exception>
    public string BasicParameter => HasPassword
        ? Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Username + ":" + Password))
        : throw new InvalidOperationException("this credential is an identity token, not a password");

    /// <summary>Who this is, for messages and cache keys: the user name, or <c>&lt;identity token&gt;</c>. Never a secret.</summary>
    public override string ToString() => Username ?? "<identity token>";
}
