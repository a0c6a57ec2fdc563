using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Store;

public sealed class FileMapTests
{
    [Theory]
    [InlineData(0, 4096)]
    [InlineData(1, 1)]
    [InlineData(4095, 8193)]
    [InlineData(12_345, 1_000_000)]
    [InlineData(2_000_000, 97_152)]
    public void TryAppend_HashesTheFilesBytesAtAnyOffset(int offset, int length)
    {
        using var temp = new TempDirectory();
        byte[] bytes = RandomNumberGenerator.GetBytes(2_097_152);
        string path = Path.Combine(temp.Path, "file");
        File.WriteAllBytes(path, bytes);
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("prefix"u8);

        bool mapped = FileMap.TryAppend(handle, offset, length, hash);

        Assert.Equal(OperatingSystem.IsLinux(), mapped);
        if (mapped)
        {
            Assert.Equal(SHA256.HashData([.. "prefix"u8, .. bytes.AsSpan(offset, length)]), hash.GetHashAndReset());
        }
    }

    [Fact]
    public void TryAppend_SeesBytesWrittenAfterTheFileWasOpened()
    {
        using var temp = new TempDirectory();
        using SafeFileHandle handle = File.OpenHandle(Path.Combine(temp.Path, "file"), FileMode.CreateNew, FileAccess.ReadWrite, preallocationSize: 1 << 20);
        RandomAccess.SetLength(handle, 1 << 20);
        byte[] bytes = RandomNumberGenerator.GetBytes(300_000);
        RandomAccess.Write(handle, bytes, 500_000);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        Assert.Equal(OperatingSystem.IsLinux(), FileMap.TryAppend(handle, 500_000, bytes.Length, hash));
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(SHA256.HashData(bytes), hash.GetHashAndReset());
        }
    }

    [Fact]
    public void TryAppend_PastTheEndOfTheFile_AppendsNothingAndSaysSo()
    {
        using var temp = new TempDirectory();
        string path = Path.Combine(temp.Path, "file");
        File.WriteAllBytes(path, new byte[10_000]);
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        Assert.False(FileMap.TryAppend(handle, 8_192, 4_096, hash));
        Assert.False(FileMap.TryAppend(handle, -1, 10, hash));
        Assert.Equal(SHA256.HashData([]), hash.GetHashAndReset()); // nothing was appended
    }
}
