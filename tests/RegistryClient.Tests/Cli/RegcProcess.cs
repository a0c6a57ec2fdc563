using System.Diagnostics;

namespace RegistryClient.Tests.Cli;

/// <summary>Runs the real regc (the CLI project's build output, copied beside the tests) as a child process.</summary>
public static class RegcProcess
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using RegcRun run = Start(null, args);
        return await run.WaitAsync();
    }

    /// <summary>Starts regc with extra environment variables; the caller waits for it (or kills it).</summary>
    public static RegcRun Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        // Run regc from its own build output, next to its own runtimeconfig and deps files.
        string baseDirectory = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string framework = Path.GetFileName(baseDirectory);
        string configuration = Path.GetFileName(Path.GetDirectoryName(baseDirectory)!);
        string root = baseDirectory;
        while (!File.Exists(Path.Combine(root, "RegistryClient.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("RegistryClient.sln not found above " + baseDirectory);
        }

        string dll = Path.Combine(root, "src", "RegistryClient.Cli", "bin", configuration, framework, "regc.dll");
        var start = new ProcessStartInfo("dotnet", ["exec", dll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("OLLAMA_MODELS");
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        Process process = Process.Start(start)!;
        process.StandardInput.Close();
        return new RegcRun(process, process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
    }
}

/// <summary>A running regc child process.</summary>
public sealed class RegcRun(Process process, Task<string> stdout, Task<string> stderr) : IDisposable
{
    public Process Process { get; } = process;

    public async Task<(int ExitCode, string Stdout, string Stderr)> WaitAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Process.Kill(entireProcessTree: true);
            throw new TimeoutException("regc did not finish within 3 minutes");
        }

        return (Process.ExitCode, await stdout, await stderr);
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        Process.Dispose();
    }
}
