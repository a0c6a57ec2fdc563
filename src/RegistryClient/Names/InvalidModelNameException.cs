namespace RegistryClient.Names;

/// <summary>A model name given by a user or a file does not follow the naming rules.</summary>
public sealed class InvalidModelNameException : FormatException
{
    /// <summary>Creates the exception with a default message.</summary>
    public InvalidModelNameException()
        : base("invalid model name")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public InvalidModelNameException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public InvalidModelNameException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
