using System.Net.Sockets;

namespace RegistryClient.Remote;

/// <summary>Decides which failures are worth another attempt, and says in a few words what went wrong.</summary>
internal static class TransientFaults
{
    /// <summary>
    /// True for network failures (refused, reset, cut bodies), stalls, 408/429/5xx answers and protocol
    /// slips a retry can fix. Disk errors, digest mismatches, other 4xx, a registry that could not be reached at
    /// all on first contact, and cancellation are never transient.
    /// </summary>
    public static bool IsTransient(Exception? exception) => exception switch
    {
        null => false,
        RegistryUnreachableException => false,
        RetriesExhaustedException => false,
        RegistryResponseException response => response.IsTransient,
        RegistryProtocolException protocol => protocol.IsTransient,
        StallTimeoutException stall => stall.IsTransient,
        HttpIOException => true,
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => false,
        HttpRequestException { StatusCode: null } => true,
        IOException { InnerException: SocketException } => true,
        SocketException => true,
        _ => false,
    };

    /// <summary>What went wrong, in a few words, for a progress line: "connection reset", "503 Service Unavailable".</summary>
    public static string Describe(Exception? exception)
    {
        if (exception is RegistryResponseException { StatusCode: { } status })
        {
            return $"{(int)status} {Words(status.ToString())}";
        }

        if (exception is StallTimeoutException stall)
        {
            return stall.Reason;
        }

        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SocketException { SocketErrorCode: SocketError.ConnectionReset }:
                    return "connection reset";
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                    return "connection refused";
                case SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain }:
                    return "host name not found";
                case SocketException { SocketErrorCode: SocketError.TimedOut }:
                    return "connection timed out";
                case SocketException { SocketErrorCode: SocketError.HostUnreachable or SocketError.NetworkUnreachable }:
                    return "host unreachable";
                case HttpIOException { HttpRequestError: HttpRequestError.ResponseEnded }:
                    return "connection closed mid-response";
                case HttpIOException { HttpRequestError: HttpRequestError.InvalidResponse }:
                    return "invalid response";
                case RegistryProtocolException protocol:
                    return protocol.Message;
                default:
                    break;
            }
        }

        return exception?.Message ?? "failed";
    }

    /// <summary>"ServiceUnavailable" as "Service Unavailable".</summary>
    private static string Words(string pascal)
    {
        var text = new System.Text.StringBuilder(pascal.Length + 4);
        for (int i = 0; i < pascal.Length; i++)
        {
            if (i > 0 && char.IsUpper(pascal[i]) && !char.IsUpper(pascal[i - 1]))
            {
                text.Append(' ');
            }

            text.Append(pascal[i]);
        }

        return text.ToString();
    }
}
