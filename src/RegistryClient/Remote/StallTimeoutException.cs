namespace RegistryClient.Remote;

/// <summary>A transfer received no bytes for longer than the stall timeout.</summary>
public sealed class StallTimeoutException : TimeoutException
{
    /// <summary>Creates the exception with a default message.</summary>
    public StallTimeoutException()
        : base("the transfer stalled")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public StallTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public StallTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
