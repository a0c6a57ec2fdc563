using System.Net.Sockets;

namespace RegistryClient.Remote;

/// <summary>Decides which failures are worth another attempt.</summary>
internal static class TransientFaults
{
    /// <summary>
    /// True for network failures (refused, reset, cut bodies), stalls, 408/429/5xx answers and protocol
    /// slips a retry can fix. Disk errors, digest mismatches, other 4xx and cancellation are never transient.
    /// </summary>
    public static bool IsTransient(Exception? exception) => exception switch
    {
        null => false,
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
}
