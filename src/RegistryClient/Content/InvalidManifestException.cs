namespace RegistryClient.Content;

/// <summary>A manifest (or index) is malformed, oversized, or describes impossible content.</summary>
public sealed class InvalidManifestException : FormatException
{
    /// <summary>Creates the exception with a default message.</summary>
    public InvalidManifestException()
        : base("invalid manifest")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public InvalidManifestException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public InvalidManifestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
