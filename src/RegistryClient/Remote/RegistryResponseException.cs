using System.Net;

namespace RegistryClient.Remote;

/// <summary>A registry (or a storage host it redirected to) answered with an error status.</summary>
public class RegistryResponseException : HttpRequestException
{
    /// <summary>Creates the exception with a default message.</summary>
    public RegistryResponseException()
        : base("the registry answered with an error")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RegistryResponseException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RegistryResponseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception from a response's parts.</summary>
    /// <param name="status">The HTTP status.</param>
    /// <param name="registryCode">The first error code of the registry's JSON body, if any.</param>
    /// <param name="registryMessage">The first error message of the registry's JSON body, if any.</param>
    /// <param name="method">The request method.</param>
    /// <param name="uri">The request URI without its query string.</param>
    /// <param name="retryAfter">The delay the server asked for with <c>Retry-After</c>, already capped.</param>
    public RegistryResponseException(HttpStatusCode status, string? registryCode, string? registryMessage, string method, string uri, TimeSpan? retryAfter)
        : base(FormatMessage(status, registryCode, registryMessage, method, uri), null, status)
    {
        RegistryCode = registryCode;
        RegistryMessage = registryMessage;
        Method = method;
        Uri = uri;
        RetryAfter = retryAfter;
    }

    /// <summary>An error with its own message that is not retried whatever its status (the registry asked to come back much later).</summary>
    internal RegistryResponseException(string message, HttpStatusCode status, string? registryCode, string? registryMessage, string method, string uri)
        : base(message, null, status)
    {
        RegistryCode = registryCode;
        RegistryMessage = registryMessage;
        Method = method;
        Uri = uri;
        _final = true;
    }

    private readonly bool _final;

    /// <summary>The registry's error code (<c>MANIFEST_UNKNOWN</c>, <c>UNAUTHORIZED</c>, …), when it sent one.</summary>
    public string? RegistryCode { get; }

    /// <summary>The registry's error message, when it sent one.</summary>
    public string? RegistryMessage { get; }

    /// <summary>The request method.</summary>
    public string? Method { get; }

    /// <summary>The request URI, without query string (signed URLs carry secrets there).</summary>
    public string? Uri { get; }

    /// <summary>The delay asked for by <c>Retry-After</c>, capped; null when absent or unusable.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>True for statuses worth retrying (408, 429 and 5xx), unless the registry asked to come back later than a retry waits.</summary>
    public bool IsTransient => !_final
        && (StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int?)StatusCode >= 500);

    private static string FormatMessage(HttpStatusCode status, string? code, string? message, string method, string uri)
    {
        string detail = code is null ? string.Empty : $": {code}" + (string.IsNullOrEmpty(message) ? string.Empty : $" ({message})");
        string hint = status switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => "; check your credentials and that the model exists",
            HttpStatusCode.TooManyRequests => "; the registry is rate limiting, try again later",
            _ => string.Empty,
        };
        return $"{method} {uri} returned {(int)status} {status}{detail}{hint}";
    }
}
