using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RegistryClient.Server;

/// <summary>Starts a minimal Kestrel app on one endpoint (port 0 picks a free one), over TLS when given a certificate, and reports the bound address.</summary>
internal static class KestrelHost
{
    public static async Task<(WebApplication App, Uri BaseAddress)> StartAsync(
        IPEndPoint endpoint,
        Action<WebApplication> configure,
        Action<KestrelServerOptions>? limits = null,
        CancellationToken cancellationToken = default,
        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            limits?.Invoke(kestrel);
            kestrel.Listen(endpoint, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        WebApplication app = builder.Build();
        configure(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal), UriKind.Absolute);
        return (app, new Uri(uri.GetLeftPart(UriPartial.Authority) + "/"));
    }
}
