namespace RegistryClient.Tests.Infrastructure;

/// <summary>A fresh folder under the system temp folder, deleted on dispose. Never ~/.ollama.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "regc-test", string? parent = null)
    {
        Path = System.IO.Path.Combine(parent ?? System.IO.Path.GetTempPath(), $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    /// <summary>A folder on disk (<c>/var/tmp</c>, never tmpfs), for tests that look at the page cache.</summary>
    public static TempDirectory OnDisk() => new("regc-test", OperatingSystem.IsLinux() ? "/var/tmp" : null);

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
