namespace RegistryClient.Remote;

/// <summary>
/// A registry could not be reached on first contact (its name does not resolve, the connection is refused or times
/// out, it speaks plain HTTP to an https client, or it accepts connections and never answers): nothing retries
/// that, so it is reported at once. The same failures later in a transfer are transient and retried.
/// </summary>
public sealed class RegistryUnreachableException : HttpRequestException
{
    /// <summary>Creates the exception with a default message.</summary>
    public RegistryUnreachableException()
        : base("the registry could not be reached")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RegistryUnreachableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RegistryUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="authority"/> (host or host:port).</summary>
    public RegistryUnreachableException(string authority, string message, Exception? innerException)
        : base(message, innerException)
    {
        Authority = authority;
    }

    /// <summary>The host (and port) that could not be reached.</summary>
    public string? Authority { get; }
}
