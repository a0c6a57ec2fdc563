using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace RegistryClient.Remote;

/// <summary>How TLS certificates of registries are checked: a custom CA bundle, and per-host skipping for <c>--insecure</c>.</summary>
internal static class TlsTrust
{
    public static void Apply(SslClientAuthenticationOptions ssl, RegistryOptions options)
    {
        if (options.CaBundlePath is { } path)
        {
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(LoadBundle(path));
            ssl.CertificateChainPolicy = policy;
        }

        if (options.Insecure || options.InsecureHosts.Count > 0)
        {
            ssl.RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                errors == SslPolicyErrors.None || options.SkipsTlsVerification((sender as SslStream)?.TargetHostName);
        }
    }

    /// <summary>The certificates of a PEM bundle.</summary>
    /// <exception cref="InvalidDataException">The file cannot be read or holds no certificate.</exception>
    public static X509Certificate2Collection LoadBundle(string path)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidDataException($"the CA bundle {path} (SSL_CERT_FILE) cannot be read: {e.Message}");
        }

        return certificates.Count > 0 ? certificates : throw new InvalidDataException($"the CA bundle {path} (SSL_CERT_FILE) holds no PEM certificate");
    }
}
