using RegistryClient.Remote;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>Docker config.json files written for a test, read back as the credential source regc uses.</summary>
public static class TestCredentials
{
    public static DockerConfig Write(TempDirectory directory, params (string Host, string User, string Password)[] entries)
    {
        string path = directory.Combine($"config-{Guid.NewGuid():N}.json");
        DockerConfig config = DockerConfig.Load(path);
        foreach ((string host, string user, string password) in entries)
        {
            config.Save(host, new RegistryCredential(user, password));
        }

        return DockerConfig.Load(path);
    }
}
