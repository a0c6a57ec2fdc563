namespace RegistryClient.Remote;

/// <summary>
/// A request or transfer kept failing on the network (connections reset, bodies cut short) and its retries ran out:
/// the message names what was fetched, the last cause and the attempts. Not retried again by anything.
/// </summary>
public sealed class RetriesExhaustedException : HttpRequestException
{
    /// <summary>Creates the exception with a default message.</summary>
    public RetriesExhaustedException()
        : base("the retries ran out")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RetriesExhaustedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the last failure.</summary>
    public RetriesExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
