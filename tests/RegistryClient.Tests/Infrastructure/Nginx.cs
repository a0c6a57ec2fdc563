using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// Debian's nginx as a reverse proxy on a free loopback port in front of a server, with a request body limit
/// (<c>client_max_body_size</c>, as sites put in front of registries) and an access log; stopped on dispose. Without
/// the binary the tests that use it fail when CI=true and skip otherwise.
/// </summary>
public sealed class Nginx : IAsyncDisposable
{
    private const string Binary = "/usr/sbin/nginx";

    private readonly Process _process;
    private readonly TempDirectory _directory;

    private Nginx(Process process, TempDirectory directory, int port)
    {
        _process = process;
        _directory = directory;
        HostAndPort = $"127.0.0.1:{port}";
    }

    public string HostAndPort { get; }

    /// <summary>The access log so far: one line per request, the status after the request line.</summary>
    public string AccessLog => File.Exists(_directory.Combine("access.log")) ? File.ReadAllText(_directory.Combine("access.log")) : string.Empty;

    /// <summary>Starts nginx in front of <paramref name="upstreamHostAndPort"/> (several, separated by spaces: round robin); with <paramref name="patchStatus"/>, every PATCH gets that status from nginx (a registry that takes no chunks).</summary>
    public static async Task<Nginx> StartAsync(string upstreamHostAndPort, string maxBodySize, int? patchStatus = null)
    {
        string refusePatch = patchStatus is { } status ? $"if ($request_method = PATCH) {{ return {status}; }}" : string.Empty;
        string[] servers = upstreamHostAndPort.Split(' ', StringSplitOptions.RemoveEmptyEntries); // several: round robin between them
        string backends = string.Join(" ", servers.Select(s => $"server {s};"));
        RequiredTool.Require(Binary, "nginx-light");

        var directory = new TempDirectory("regc-nginx");
        int port = RequiredTool.FreePort();
        string config = directory.Combine("nginx.conf");
        string d = directory.Path;
        await File.WriteAllTextAsync(config, $$"""
            daemon off;
            pid {{d}}/nginx.pid;
            error_log {{d}}/error.log;
            events {}
            http {
              access_log {{d}}/access.log;
              client_body_temp_path {{d}}/body;
              proxy_temp_path {{d}}/proxy;
              fastcgi_temp_path {{d}}/fastcgi;
              uwsgi_temp_path {{d}}/uwsgi;
              scgi_temp_path {{d}}/scgi;
              upstream backends { {{backends}} }
              server {
                listen 127.0.0.1:{{port}};
                client_max_body_size {{maxBodySize}};
                location / {
                  {{refusePatch}}
                  proxy_pass http://backends;
                  proxy_request_buffering off;
                  proxy_set_header Host $http_host;
                }
              }
            }
            """);
        var process = Process.Start(new ProcessStartInfo(Binary, ["-c", config, "-e", directory.Combine("error.log")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var nginx = new Nginx(process, directory, port);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10) && !process.HasExited)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return nginx;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        string error = File.Exists(directory.Combine("error.log")) ? await File.ReadAllTextAsync(directory.Combine("error.log")) : string.Empty;
        await nginx.DisposeAsync();
        throw new InvalidOperationException($"nginx did not start on port {port}: {error}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _directory.Dispose();
    }
}
