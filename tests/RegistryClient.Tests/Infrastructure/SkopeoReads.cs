using System.Text;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>What skopeo, an independent client, reads back from a plain-HTTP registry on loopback.</summary>
public static class SkopeoReads
{
    /// <summary>
    /// <c>skopeo inspect --raw</c> prints <paramref name="manifest"/>'s exact bytes, and <c>skopeo copy</c> (which checks
    /// every blob's digest as it reads it) copies blobs equal to the store's into <paramref name="copyDirectory"/>.
    /// </summary>
    public static async Task AssertModelAsync(ModelName name, byte[] manifest, ModelStore source, string copyDirectory)
    {
        string reference = $"docker://{name.Host}/{name.Repository}:{name.Tag}";
        (int code, string raw, string error) = await ExternalTool.RunAsync("skopeo", "inspect", "--raw", "--tls-verify=false", reference);
        Assert.True(code == 0, error);
        Assert.Equal(Encoding.UTF8.GetString(manifest), raw.TrimEnd('\n'));
        (code, _, error) = await ExternalTool.RunAsync("skopeo", "copy", "-q", "--src-tls-verify=false", reference, $"dir:{copyDirectory}");
        Assert.True(code == 0, error);
        foreach (Descriptor blob in Manifest.Parse(manifest).Blobs)
        {
            Assert.Equal(await File.ReadAllBytesAsync(source.GetBlobPath(blob.Digest)), await File.ReadAllBytesAsync(Path.Combine(copyDirectory, blob.Digest.Hex)));
        }
    }
}
