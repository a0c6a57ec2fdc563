namespace RegistryClient.Store;

/// <summary>A model asked for by name is not in the store (a local miss: no registry was asked).</summary>
public sealed class ModelNotInStoreException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ModelNotInStoreException()
        : base("the model is not in the store")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ModelNotInStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public ModelNotInStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
