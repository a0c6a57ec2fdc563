using RegistryClient;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Library;

/// <summary>The README's library quick start, compiled here as it is printed there (a test checks the two agree).</summary>
public static class QuickStart
{
    // README: begin
    public static async Task<string> PullAsync(string name, string modelsDirectory, CancellationToken cancellationToken)
    {
        using var client = new ModelClient(new ModelClientOptions { ModelsDirectory = modelsDirectory });
        var progress = new Progress<PullProgress>(p =>
            Console.WriteLine(p.IsStatus ? p.Status : $"{p.Digest.Short}: {p.Completed} of {p.Total} bytes"));
        PullResult pulled = await client.PullAsync(name, progress, cancellationToken);
        return $"{name} is {pulled.Models[0].ManifestDigest}: {pulled.BytesFetched} bytes fetched, {pulled.BytesCached} were there";
    }
    // README: end
}
