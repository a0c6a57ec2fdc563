namespace RegistryClient.Remote;

/// <summary>
/// One HTTP exchange as every request of this project makes it (registry, storage host, token server): headers read
/// first, and the transport's failures turned into errors that say what to do.
/// </summary>
internal static class HttpSending
{
    /// <summary>
    /// Sends one request. A TLS failure becomes one clear error that is not retried (a certificate does not fix itself;
    /// a server speaking plain HTTP is named as such); a connection that could not be set up within the handler's
    /// connect timeout becomes a connection error (transient) instead of a cancellation.
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Uri uri = request.RequestUri!;
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError && e is not RegistryResponseException)
        {
            if (IsPlainHttpAnswer(e))
            {
                throw new RegistryUnreachableException(uri.Authority, $"{uri.Authority} answered plain HTTP: use --insecure or http://", e);
            }

            string cause = e.InnerException?.Message ?? e.Message;
            throw new HttpRequestException(
                HttpRequestError.SecureConnectionError,
                $"TLS with {uri.Authority} failed: {cause.TrimEnd('.')}; if it uses a private CA, give its certificate with SSL_CERT_FILE=<PEM file>, or pass --insecure to skip verification for {uri.Host} only",
                e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && e.InnerException is TimeoutException)
        {
            throw new HttpRequestException(HttpRequestError.ConnectionError, $"could not connect to {uri.Authority}: {e.InnerException.Message}", e);
        }
    }

    /// <summary>
    /// True when a TLS handshake failed because the server's first bytes were not a TLS record (SslStream cannot size
    /// the frame): the server speaks plain HTTP on that port.
    /// </summary>
    private static bool IsPlainHttpAnswer(HttpRequestException e)
    {
        for (Exception? inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Security.Authentication.AuthenticationException && inner.Message.Contains("frame", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
