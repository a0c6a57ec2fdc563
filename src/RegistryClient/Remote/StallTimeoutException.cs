namespace RegistryClient.Remote;

/// <summary>A transfer received (almost) no bytes for longer than the stall timeout.</summary>
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

    /// <summary>Creates the exception, saying whether another attempt is allowed.</summary>
    public StallTimeoutException(string message, bool isTransient)
        : base(message)
    {
        IsTransient = isTransient;
    }

    /// <summary>False once a transfer stalled too often without progress: retrying it again would only hang.</summary>
    public bool IsTransient { get; } = true;

    /// <summary>What happened, in a few words for a progress line ("no data for 30 s"). Default "stalled".</summary>
    public string Reason { get; init; } = "stalled";
}
