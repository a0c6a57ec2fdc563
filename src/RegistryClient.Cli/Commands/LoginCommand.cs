using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using RegistryClient.Remote;
using Spectre.Console;

namespace RegistryClient.Cli.Commands;

/// <summary><c>regc login HOST</c> and <c>regc logout HOST</c>: credentials in Docker's config.json.</summary>
internal static class LoginCommand
{
    public static Command Create()
    {
        var host = new Argument<string>("HOST") { Description = "The registry: host or host:port (https:// or http:// may be written before it)" };
        var username = new Option<string?>("--username", "-u") { Description = "The user name; asked for on a terminal when not given", HelpName = "USER" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password (or access token) from standard input, so it appears in no command line or shell history" };
        Option<bool> insecure = CommonOptions.Insecure();
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command(
            "login",
            "Check a user name and password (or access token) against a registry and save them in Docker's config.json ($DOCKER_CONFIG, else ~/.docker), "
            + "where docker, podman and skopeo find them too. The file is written readable by its owner only")
        {
            host, username, passwordStdin, insecure, verbose,
        };
        CommandRunner.SetAction(command, verbose, async (result, cancellationToken) =>
        {
            (Uri registry, string authority) = ParseHost(result.GetValue(host)!, result.GetValue(insecure));
            string user = result.GetValue(username) ?? Ask("Username: ", secret: false)
                ?? throw new ArgumentException("give the user name with --username (no terminal to ask on)");
            string password = (result.GetValue(passwordStdin) ? ReadPasswordFromStdin() : Ask("Password: ", secret: true))
                ?? throw new ArgumentException("give the password with --password-stdin (no terminal to ask on)");
            if (password.Length == 0)
            {
                throw new ArgumentException("the password is empty");
            }

            var credential = new RegistryCredential(user, password);
            RegistryOptions options = CommonOptions.Registry(result.GetValue(insecure), [authority]) with
            {
                Credentials = new OneCredential(authority, credential),
                OllamaKeyPath = null,
                MaxRetries = 1,
            };
            using (ServiceProvider services = CommonOptions.Services(options, result.GetValue(verbose)))
            {
                await services.GetRequiredService<RemoteRegistry>().CheckAccessAsync(registry, cancellationToken).ConfigureAwait(false);
            }

            DockerConfig config = DockerConfig.Load();
            config.Save(authority, credential);
            Console.Out.WriteLine($"logged in to {authority} as {user}; saved in {config.Path}");
            return ErrorReporter.Ok;
        });
        return command;
    }

    public static Command CreateLogout()
    {
        var host = new Argument<string>("HOST") { Description = "The registry: host or host:port" };
        Option<bool> verbose = CommonOptions.Verbose();
        var command = new Command("logout", "Remove the saved credentials of a registry from Docker's config.json") { host, verbose };
        CommandRunner.SetAction(command, verbose, (result, cancellationToken) =>
        {
            (_, string authority) = ParseHost(result.GetValue(host)!, insecure: false);
            DockerConfig config = DockerConfig.Load();
            Console.Out.WriteLine(config.Remove(authority)
                ? $"removed the credentials of {authority} from {config.Path}"
                : $"not logged in to {authority} ({config.Path} has no entry for it)");
            return Task.FromResult(ErrorReporter.Ok);
        });
        return command;
    }

    /// <summary>The registry's base URL and its authority (host or host:port), parsed by the rules of a name's host and scheme.</summary>
    private static (Uri Registry, string Authority) ParseHost(string text, bool insecure)
    {
        if (!RegistryClient.Names.ModelName.TryParse(text.Trim().TrimEnd('/') + "/library/x", out RegistryClient.Names.ModelName? name, out _)
            || name.Namespace != "library" || name.Model != "x")
        {
            throw new ArgumentException($"\"{text}\" is not a registry host ([http(s)://]host[:port])");
        }

        return (name.RegistryUri(insecure), DockerConfig.Normalize(name.Host));
    }

    internal static string? Ask(string prompt, bool secret)
    {
        if (Console.IsInputRedirected || Console.IsOutputRedirected)
        {
            return null;
        }

        var question = new TextPrompt<string>(prompt);
        return AnsiConsole.Prompt(secret ? question.Secret() : question);
    }

    private static string ReadPasswordFromStdin()
    {
        string text = Console.In.ReadToEnd();
        return text.TrimEnd('\r', '\n');
    }

    /// <summary>One credential for one registry; every other host asks <paramref name="others"/> (none when null).</summary>
    internal sealed class OneCredential(string authority, RegistryCredential credential, ICredentialSource? others = null) : ICredentialSource
    {
        public RegistryCredential? Find(string wanted) =>
            string.Equals(DockerConfig.Normalize(wanted), authority, StringComparison.Ordinal) ? credential : others?.Find(wanted);
    }
}
