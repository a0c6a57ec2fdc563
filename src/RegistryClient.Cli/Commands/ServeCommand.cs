using System.CommandLine;
using RegistryClient.Server;
using RegistryClient.Store;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc serve</c>: a read-only registry over a store.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        Option<string?> models = CommonOptions.Models();
        var listen = new Option<string>("--listen")
        {
            Description = "HOST:PORT to listen on (loopback by default; 0.0.0.0:PORT to serve other machines)",
            DefaultValueFactory = _ => "127.0.0.1:5000",
            HelpName = "HOST:PORT",
        };
        var upstream = new Option<string?>("--upstream")
        {
            Description = "When several registries in the store hold the same model, serve this host's (default registry.ollama.ai's, else the first)",
            HelpName = "HOST",
        };
        var chunkSize = new Option<int>("--chunk-size")
        {
            Description = "Chunk size in MiB of the chunksums lists offered for each blob (computed once, kept in .regc/chunksums)",
            DefaultValueFactory = _ => (int)(RegistryServerOptions.DefaultChunkSize >> 20),
            HelpName = "MiB",
        };
        var tlsCert = new Option<string?>("--tls-cert")
        {
            Description = "Serve https with this PEM certificate (chain); needs --tls-key. Default: plain http",
            HelpName = "FILE",
        };
        var tlsKey = new Option<string?>("--tls-key") { Description = "The PEM private key of --tls-cert", HelpName = "FILE" };
        var allowPush = new Option<bool>("--allow-push")
        {
            Description = "Accept pushes (regc push, skopeo, oras) into the store: resumable uploads, verified before they enter blobs/. "
                + "No authentication: anyone who reaches the address may push, so keep it on loopback or behind an authenticating proxy",
        };
        var pullThrough = new Option<string?>("--pull-through")
        {
            Description = "Be a pull-through cache of this registry (host[:port]): what the store lacks is fetched from it once, however many clients ask, "
                + "verified, kept and served; a client that leaves does not stop a fill. Credentials for it are the server's own (Docker's config.json), never a client's",
            HelpName = "REGISTRY",
        };
        var tagTtl = new Option<double>("--tag-ttl")
        {
            Description = "Seconds a tag fetched through --pull-through is served before the registry is asked again (digests never change)",
            DefaultValueFactory = _ => 300,
            HelpName = "SECONDS",
        };
        var announce = new Option<bool>("--announce")
        {
            Description = "Announce this server on the local network by multicast DNS (_regc._tcp), for regc pull --discover. "
                + "Every machine there then sees that this host serves models over HTTP on this port (and can read them all)",
        };
        Option<bool> insecure = CommonOptions.Insecure();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command("serve", "Serve a store over the OCI distribution API (read-only unless --allow-push), with Ollama's chunksums endpoint; one access-log line per request on stdout")
        {
            models, listen, upstream, chunkSize, tlsCert, tlsKey, allowPush, pullThrough, tagTtl, announce, insecure, verbose,
        };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            string root = ModelStore.ResolveRoot(result.GetValue(models));
            if (!Directory.Exists(root))
            {
                if (result.GetValue(pullThrough) is null && !result.GetValue(allowPush))
                {
                    throw new DirectoryNotFoundException($"the model store {root} does not exist; pass --models DIR");
                }

                Directory.CreateDirectory(root); // a cache or a push target starts empty
            }

            int chunkMebibytes = result.GetValue(chunkSize);
            if (chunkMebibytes is < 1 or > 1024)
            {
                throw new ArgumentException("--chunk-size must be from 1 to 1024 MiB");
            }

            string? certPath = result.GetValue(tlsCert), keyPath = result.GetValue(tlsKey);
            if ((certPath is null) != (keyPath is null))
            {
                throw new ArgumentException("--tls-cert and --tls-key go together");
            }

            string? through = result.GetValue(pullThrough);
            if (through is not null && result.GetValue(allowPush))
            {
                throw new ArgumentException("--allow-push and --pull-through do not go together: a cache serves what its upstream has, and a push would replace that");
            }

            double ttl = result.GetValue(tagTtl);
            if (ttl is < 0 or > 86400 * 30)
            {
                throw new ArgumentException("--tag-ttl must be from 0 to 2592000 seconds (30 days)");
            }

            using System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = certPath is null
                ? null
                : System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certPath, keyPath);
            RegistryServer server = await RegistryServer.StartAsync(
                new RegistryServerOptions
                {
                    StoreRoot = root,
                    Listen = result.GetValue(listen)!,
                    Upstream = result.GetValue(upstream),
                    ChunkSize = (long)chunkMebibytes << 20,
                    AccessLog = Console.Out,
                    Certificate = certificate,
                    AllowPush = result.GetValue(allowPush),
                    PullThrough = through,
                    PullThroughRegistry = through is null ? null : CommonOptions.Registry(result.GetValue(insecure), [through]),
                    TagTtl = TimeSpan.FromSeconds(ttl),
                },
                cancellationToken).ConfigureAwait(false);
            await using (server.ConfigureAwait(false))
            {
                using IDisposable? announcement = result.GetValue(announce) ? Announce(server, result.GetValue(allowPush)) : null;

                Program.SignalIsNormalStop = true; // Ctrl-C or SIGTERM is how a server stops: exit 0
                Console.Error.WriteLine($"serving {root} at {server.BaseAddress}" + (through is null ? string.Empty : $", pulling through {through}") + " (Ctrl-C to stop)");
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Console.Error.WriteLine("stopped");
                }
            }

            return ErrorReporter.Ok;
        });
        return command;
    }

    /// <summary>Starts the multicast DNS announcement, saying so; a network that cannot carry it gets a warning, not a stop.</summary>
    private static IDisposable? Announce(RegistryServer server, bool allowPush)
    {
        Uri address = server.BaseAddress;
        if (System.Net.IPAddress.TryParse(address.Host, out System.Net.IPAddress? listening) && System.Net.IPAddress.IsLoopback(listening))
        {
            Console.Error.WriteLine($"warning: announcing a server that listens on {address.Host} only: other machines cannot reach it (--listen 0.0.0.0:{address.Port} serves them)");
        }

        if (allowPush)
        {
            Console.Error.WriteLine("warning: announcing a server that takes pushes without authentication to the whole local network");
        }

        try
        {
            IDisposable announcement = Remote.LanDiscovery.Announce(address.Port, https: address.Scheme == Uri.UriSchemeHttps);
            Console.Error.WriteLine($"announcing {Remote.LanDiscovery.ServiceType} on port {address.Port} to the local network (multicast DNS)");
            return announcement;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            Console.Error.WriteLine($"warning: cannot announce on the local network ({e.Message}); serving without it");
            return null;
        }
    }
}
