using System.Diagnostics;

namespace RegistryClient.Tests.Cli;

/// <summary>Runs the real regc (the CLI project's build output, copied beside the tests) as a child process.</summary>
public static class RegcProcess
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
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
        using Process process = Process.Start(start)!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
