namespace RegistryClient.Remote;

/// <summary>
/// A registry broke the protocol: a wrong <c>Content-Range</c>, a body longer or shorter than announced,
/// a bad redirect. Transient ones are retried; the message names the request and what was wrong.
/// </summary>
public sealed class RegistryProtocolException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public RegistryProtocolException()
        : base("the registry broke the protocol")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RegistryProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RegistryProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception, saying whether a retry might help.</summary>
    public RegistryProtocolException(string message, bool isTransient)
        : base(message)
    {
        IsTransient = isTransient;
    }

    /// <summary>True when the same request might succeed if sent again (a cut body, a stall).</summary>
    public bool IsTransient { get; }
}
