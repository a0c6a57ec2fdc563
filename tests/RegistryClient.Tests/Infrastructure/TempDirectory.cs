namespace RegistryClient.Tests.Infrastructure;

/// <summary>A fresh folder under the system temp folder, deleted on dispose. Never ~/.ollama.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "regc-test")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
