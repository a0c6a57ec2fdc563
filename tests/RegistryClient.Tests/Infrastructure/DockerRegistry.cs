using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// A real distribution v2 registry (Debian's docker-registry) on a free loopback port, with its storage in a temp
/// folder; stopped on dispose. Without the binary the tests that use it fail when CI=true and skip otherwise.
/// </summary>
public sealed class DockerRegistry : IAsyncDisposable
{
    private const string Binary = "/usr/bin/docker-registry";

    private readonly Process _process;
    private readonly TempDirectory _directory;

    private DockerRegistry(Process process, TempDirectory directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
    }

    public int Port { get; }

    public Uri BaseAddress { get; }

    public string HostAndPort => $"127.0.0.1:{Port}";

    /// <summary>True when the tests run in CI (CI=true), where a missing registry is a failure, never a skip.</summary>
    public static bool InCi => RequiredTool.InCi;

    /// <summary>Skips the calling test outside CI when the binary is missing; in CI, fails it.</summary>
    public static void RequireInstalled() => RequiredTool.Require(Binary, "docker-registry");

    /// <param name="extraConfig">Top-level YAML added to the configuration (auth, proxy).</param>
    /// <param name="readOnly">Starts it in read-only mode (<c>storage.maintenance.readonly</c>): pulls work, uploads get 405.</param>
    public static async Task<DockerRegistry> StartAsync(string? extraConfig = null, bool readOnly = false)
    {
        RequireInstalled();
        for (int attempt = 0; ; attempt++)
        {
            var directory = new TempDirectory("regc-registry");
            int port = RequiredTool.FreePort();
            string config = directory.Combine("config.yml");
            await File.WriteAllTextAsync(config, $"""
                version: 0.1
                log:
                  level: error
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {directory.Combine("data")}
                  delete:
                    enabled: true
                  maintenance:
                    readonly:
                      enabled: {(readOnly ? "true" : "false")}
                http:
                  addr: 127.0.0.1:{port}
                  secret: regc-tests
                {extraConfig ?? string.Empty}
                """);
            var start = new ProcessStartInfo(Binary, ["serve", config])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            var process = Process.Start(start)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var registry = new DockerRegistry(process, directory, port);
            if (await registry.WaitReadyAsync())
            {
                return registry;
            }

            await registry.DisposeAsync();
            if (attempt == 2)
            {
                throw new InvalidOperationException($"docker-registry did not start on port {port}");
            }
        }
    }

    private async Task<bool> WaitReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(15) && !_process.HasExited)
        {
            try
            {
                using HttpResponseMessage response = await http.GetAsync(new Uri(BaseAddress, "v2/"));
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(50);
        }

        return false;
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
