namespace RegistryClient.Store;

/// <summary>An upload session a server receives is being written by another request (or process) right now, or was finished meanwhile.</summary>
public sealed class UploadInUseException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public UploadInUseException()
        : base("another request is writing this upload")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public UploadInUseException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public UploadInUseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
