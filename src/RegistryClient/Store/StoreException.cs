namespace RegistryClient.Store;

/// <summary>The store cannot be used as asked: missing, read-only, full, or holding something unsafe.</summary>
public sealed class StoreException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public StoreException()
        : base("the model store cannot be used")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public StoreException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public StoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
