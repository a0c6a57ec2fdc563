using System.Text;
using System.Text.Json;
using RegistryClient.Content;

namespace RegistryClient.Tests.Content;

/// <summary>The chunk index artifact's JSON: what is written, what is read back, and what is refused.</summary>
public sealed class ChunkIndexArtifactTests
{
    private static readonly Descriptor Subject = new(MediaTypes.DockerManifest, Digest.Compute("model"u8), 512);
    private static readonly Digest Blob = Digest.Compute("weights"u8);
    private static readonly Descriptor List = new(ChunkIndexArtifact.ListMediaType, Digest.Compute("list"u8), 4321);

    [Fact]
    public void Build_IsAnOci11ArtifactAboutTheSubject_AndReadsBack()
    {
        byte[] artifact = ChunkIndexArtifact.Build(Subject, [(Blob, List)]);

        using JsonDocument json = JsonDocument.Parse(artifact);
        Assert.Equal(MediaTypes.OciManifest, json.RootElement.GetProperty("mediaType").GetString());
        Assert.Equal(ChunkIndexArtifact.ArtifactType, json.RootElement.GetProperty("artifactType").GetString());
        Assert.Equal(ChunkIndexArtifact.EmptyMediaType, json.RootElement.GetProperty("config").GetProperty("mediaType").GetString());
        Assert.Equal(Subject.Digest.ToString(), json.RootElement.GetProperty("subject").GetProperty("digest").GetString());
        Assert.Equal("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", ChunkIndexArtifact.EmptyConfigDescriptor.Digest.ToString());

        IReadOnlyDictionary<Digest, Descriptor> lists = ChunkIndexArtifact.ReadLists(artifact, Subject.Digest);
        Assert.Equal(List, Assert.Single(lists, l => l.Key == Blob).Value);
        Assert.Equal(artifact, ChunkIndexArtifact.Build(Subject, [(Blob, List)])); // the same bytes every time: one digest per model
    }

    [Fact]
    public void ReadLists_RefusesAnotherSubject_AnotherType_AndNonsense()
    {
        byte[] artifact = ChunkIndexArtifact.Build(Subject, [(Blob, List)]);

        Assert.Empty(ChunkIndexArtifact.ReadLists(artifact, Digest.Compute("another model"u8)));
        Assert.Empty(ChunkIndexArtifact.ReadLists(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(artifact).Replace(ChunkIndexArtifact.ArtifactType, "application/x-other", StringComparison.Ordinal)), Subject.Digest));
        Assert.Empty(ChunkIndexArtifact.ReadLists("not json"u8, Subject.Digest));
        Assert.Empty(ChunkIndexArtifact.ReadLists("[]"u8, Subject.Digest));
    }

    [Fact]
    public void AddToReferrers_KeepsOtherReferrers_AndReplacesAnEarlierIndexOfOurs()
    {
        var older = new Descriptor(MediaTypes.OciManifest, Digest.Compute("older artifact"u8), 300);
        var newer = new Descriptor(MediaTypes.OciManifest, Digest.Compute("newer artifact"u8), 310);
        string signature = $$"""{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{Digest.Compute("signature"u8)}}","size":99,"artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json"}""";
        byte[] existing = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{{signature}}]}""");

        byte[] first = ChunkIndexArtifact.AddToReferrers(existing, older);
        byte[] second = ChunkIndexArtifact.AddToReferrers(first, newer);

        Assert.Equal([older], ChunkIndexArtifact.FindInReferrers(first));
        Assert.Equal([newer], ChunkIndexArtifact.FindInReferrers(second));
        using JsonDocument json = JsonDocument.Parse(second);
        Assert.Equal(2, json.RootElement.GetProperty("manifests").GetArrayLength()); // the signature stays
        Assert.Contains("cosign", Encoding.UTF8.GetString(second), StringComparison.Ordinal);
        Assert.Equal([older], ChunkIndexArtifact.FindInReferrers(ChunkIndexArtifact.AddToReferrers(null, older)));
    }
}
