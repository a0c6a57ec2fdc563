namespace RegistryClient.Remote;

/// <summary>
/// A blob source answered a ranged request past the blob's start with the whole blob (200): it ignores
/// <c>Range</c>. A reader then takes the blob as one stream from its start.
/// </summary>
public sealed class RangeNotSupportedException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public RangeNotSupportedException()
        : base("the source ignores Range requests")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RangeNotSupportedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RangeNotSupportedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
