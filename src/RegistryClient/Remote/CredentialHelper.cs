using System.Diagnostics;
using System.Text.Json;

namespace RegistryClient.Remote;

/// <summary>
/// Runs a Docker credential helper (<c>docker-credential-&lt;name&gt; get</c>, found on <c>PATH</c>): the registry's host (Docker Hub: <see cref="DockerHubServer"/>) on
/// standard input, <c>{"ServerURL":…,"Username":…,"Secret":…}</c> on standard output. A user name of <c>&lt;token&gt;</c>
/// makes the secret an identity token. A helper that is missing, fails, says it has nothing, answers something else
/// or takes longer than the timeout gives no credential; nothing of its answer is logged.
/// </summary>
internal static class CredentialHelper
{
    private const int MaxAnswerBytes = 64 << 10;

    /// <summary>Helper names are a word (letters, digits, '-', '_', '.'), never a path.</summary>
    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && name[0] != '.';

    /// <summary>
    /// What a helper is asked for: the host (and port) as Docker asks, except Docker Hub, whose credentials Docker keeps
    /// under <c>https://index.docker.io/v1/</c>.
    /// </summary>
    public static string ServerUrl(string authority, bool dockerHub) => dockerHub ? DockerHubServer : authority;

    /// <summary>The key Docker keeps Docker Hub's credentials under.</summary>
    public const string DockerHubServer = "https://index.docker.io/v1/";

    public static RegistryCredential? Get(string helper, string serverUrl, TimeSpan timeout)
    {
        string program = $"docker-credential-{helper}";
        string? path = Environment.GetEnvironmentVariable("PATH")?.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(Path.IsPathRooted) // never a helper from the current directory
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
        if (path is null)
        {
            return null;
        }

        var start = new ProcessStartInfo(path, ["get"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        try
        {
            using Process process = Process.Start(start)!;
            process.StandardInput.Write(serverUrl);
            process.StandardInput.Close();
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync(); // drained, never shown: it may echo what it was given
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }

            if (process.ExitCode != 0 || !output.Wait(timeout) || output.Result.Length > MaxAnswerBytes)
            {
                return null; // "credentials not found", or a failure: as if none were configured
            }

            using JsonDocument answer = JsonDocument.Parse(output.Result);
            JsonElement root = answer.RootElement;
            string? user = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("Username", out JsonElement u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
            string? secret = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("Secret", out JsonElement s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            if (string.IsNullOrEmpty(secret))
            {
                return null;
            }

            return user == "<token>" || string.IsNullOrEmpty(user)
                ? new RegistryCredential(null, null, secret)
                : new RegistryCredential(user, secret);
        }
        catch (Exception e) when (e is JsonException or System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return null;
        }
    }
}
