namespace RegistryClient.Remote;

/// <summary>
/// A registry does not take an upload in chunks: it refused a <c>PATCH</c> (405, 501) or answered one as if the upload
/// were finished (201, as ECR does, keeping only the first chunk). The blob has to go in one request.
/// </summary>
public sealed class ChunkedUploadRefusedException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ChunkedUploadRefusedException()
        : base("the registry does not take uploads in chunks")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ChunkedUploadRefusedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public ChunkedUploadRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
