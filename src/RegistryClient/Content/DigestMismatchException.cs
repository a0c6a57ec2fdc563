namespace RegistryClient.Content;

/// <summary>Bytes did not hash to the digest they were fetched or stored under.</summary>
public sealed class DigestMismatchException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public DigestMismatchException()
        : base("content did not match its digest")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public DigestMismatchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public DigestMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
