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

    /// <summary>Runs regc with extra environment variables and <paramref name="input"/> on its standard input.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunWithAsync(IReadOnlyDictionary<string, string>? environment, string? input, params string[] args)
    {
        using RegcRun run = Start(environment, args, wrapper: [], input);
        return await run.WaitAsync();
    }

    /// <summary>Runs regc in <paramref name="workingDirectory"/> with the variables named in <paramref name="unset"/> removed from its environment.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunWithoutAsync(string workingDirectory, string[] unset, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using RegcRun run = Start(environment, args, wrapper: [], unset: unset, workingDirectory: workingDirectory);
        return await run.WaitAsync();
    }

    /// <summary>GNU time, which reports a child's peak resident memory; CI installs it.</summary>
    public const string Time = "/usr/bin/time";

    /// <summary>Runs regc under GNU time; returns its peak resident set in KiB with the usual results.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr, long PeakRssKiB)> RunMeasuredAsync(params string[] args)
    {
        Assert.True(File.Exists(Time), $"{Time} is needed to measure regc's memory (apt-get install time)");
        string report = Path.Combine(Path.GetTempPath(), $"regc-rss-{Guid.NewGuid():N}");
        try
        {
            using RegcRun run = Start(null, args, wrapper: [Time, "-f", "%M", "-o", report]);
            (int exit, string stdout, string stderr) = await run.WaitAsync();
            long peak = long.Parse(File.ReadAllLines(report).Last(l => l.Trim().Length > 0).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            return (exit, stdout, stderr, peak);
        }
        finally
        {
            File.Delete(report);
        }
    }

    /// <summary>Starts regc with extra environment variables; the caller waits for it (or kills it).</summary>
    public static RegcRun Start(IReadOnlyDictionary<string, string>? environment, params string[] args) => Start(environment, args, wrapper: []);

    /// <summary>Starts regc under <paramref name="wrapper"/> (a command that runs the rest, such as <c>ip netns exec NAME</c>).</summary>
    public static RegcRun StartWrapped(string[] wrapper, params string[] args) => Start(null, args, wrapper);

    private static RegcRun Start(
        IReadOnlyDictionary<string, string>? environment, string[] args, string[] wrapper, string? input = null, string[]? unset = null, string? workingDirectory = null)
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
        string[] command = [.. wrapper, "dotnet", "exec", dll, .. args];
        var start = new ProcessStartInfo(command[0], command[1..])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        start.Environment.Remove("OLLAMA_MODELS");
        // Hermetic: no credentials or CA bundle of the machine's user unless a test gives them.
        start.Environment["DOCKER_CONFIG"] = Path.Combine(Path.GetTempPath(), "regc-tests-no-docker-config");
        start.Environment["REGISTRY_AUTH_FILE"] = Path.Combine(Path.GetTempPath(), "regc-tests-no-auth-file.json");
        start.Environment.Remove("SSL_CERT_FILE");
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        foreach (string key in unset ?? [])
        {
            start.Environment.Remove(key);
        }

        Process process = Process.Start(start)!;
        if (input is not null)
        {
            process.StandardInput.Write(input);
        }

        process.StandardInput.Close();
        return new RegcRun(process, process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
    }
}

/// <summary>Signals for child processes.</summary>
public static class Signals
{
    public const int Sigint = 2;
    public const int Sigkill = 9;
    public const int Sigterm = 15;

    /// <summary>Sends <paramref name="signal"/> to process <paramref name="pid"/>; 0 when it was delivered, else the errno (3: no such process).</summary>
    public static int Send(int pid, int signal) => Kill(pid, signal) == 0 ? 0 : System.Runtime.InteropServices.Marshal.GetLastPInvokeError();

#pragma warning disable SYSLIB1054, CA5392 // One blittable call into libc; LibraryImport would need unsafe code in the test project.
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054, CA5392
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
