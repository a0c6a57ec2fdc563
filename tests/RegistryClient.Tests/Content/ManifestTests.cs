using System.Text;
using RegistryClient.Content;

namespace RegistryClient.Tests.Content;

public sealed class ManifestTests
{
    private const string Hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    private static string Descriptor(string digest = "sha256:" + Hex, string size = "3", string type = "application/vnd.ollama.image.model") =>
        $"{{\"mediaType\":\"{type}\",\"digest\":\"{digest}\",\"size\":{size}}}";

    private static string Doc(string layers, string? config = null) =>
        $"{{\"schemaVersion\":2,\"config\":{config ?? Descriptor()},\"layers\":[{layers}]}}";

    [Fact]
    public void Parse_OllamaManifest_ReadsConfigAndLayers()
    {
        Manifest manifest = Manifest.Parse(File.ReadAllBytes("testdata/manifests/ollama-three-layer.json"));
        Assert.Equal(MediaTypes.DockerManifest, manifest.MediaType);
        Assert.Equal(MediaTypes.DockerConfig, manifest.Config.MediaType);
        Assert.Equal(3, manifest.Layers.Count);
        Assert.Equal(MediaTypes.OllamaModel, manifest.Layers[0].MediaType);
        Assert.Equal(2019377376, manifest.Layers[0].Size);
        Assert.Equal(4, manifest.Blobs.Count);
        Assert.Equal(561 + 2019377376 + 1429 + 7711, manifest.TotalSize);
    }

    [Fact]
    public void Parse_DuplicateDigestSameSize_IsListedOnce()
    {
        Manifest manifest = Manifest.Parse(Encoding.UTF8.GetBytes(Doc(Descriptor() + "," + Descriptor())));
        Assert.Single(manifest.Blobs);
        Assert.Equal(3, manifest.TotalSize);
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("null", "not a JSON object")]
    [InlineData("!!!", "not valid JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("{\"layers\":[]}", "no config")]
    [InlineData("{\"schemaVersion\":1,\"config\":{},\"layers\":[]}", "schemaVersion")]
    [InlineData("{\"manifests\":[]}", "index")]
    public void Parse_Junk_IsInvalid(string json, string reason)
    {
        var error = Assert.Throws<InvalidManifestException>(() => Manifest.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "no layers")]
    [InlineData("null", "not an object")]
    [InlineData("{\"digest\":\"sha256:../../etc/passwd\",\"size\":3}", "invalid digest")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "/../x\",\"size\":3}", "invalid digest")]
    [InlineData("{\"digest\":\"sha256:" + "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD" + "\",\"size\":3}", "invalid digest")]
    [InlineData("{\"digest\":\"sha512:" + Hex + "\",\"size\":3}", "invalid digest")]
    [InlineData("{\"size\":3}", "no digest")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\"}", "no numeric size")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\",\"size\":\"5\"}", "no numeric size")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\",\"size\":-1}", "not a whole number")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\",\"size\":1e3}", "not a whole number")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\",\"size\":1.5}", "not a whole number")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\",\"size\":9223372036854775808}", "not a whole number")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\",\"size\":0}", "size 0")]
    [InlineData("{\"digest\":\"sha256:" + Hex + "\",\"size\":4}", "sizes 3 and 4")]
    public void Parse_BadLayer_IsInvalid(string layer, string reason)
    {
        var error = Assert.Throws<InvalidManifestException>(() => Manifest.Parse(Encoding.UTF8.GetBytes(Doc(layer))));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SizesOverflowingInt64_AreInvalid()
    {
        string big = "9223372036854775000";
        string other = "sha256:" + new string('1', 64);
        string json = Doc(Descriptor(other, big) + "," + Descriptor("sha256:" + new string('2', 64), big));
        var error = Assert.Throws<InvalidManifestException>(() => Manifest.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains("2^63", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DeepNesting_IsInvalidNotACrash()
    {
        string json = "{\"x\":" + new string('[', 10000) + new string(']', 10000) + "}";
        Assert.Throws<InvalidManifestException>(() => Manifest.Parse(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void Index_SelectsPlatform_OrTheOnlyEntry()
    {
        string amd = "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + new string('a', 64) + "\",\"size\":10,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}";
        string arm = "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + new string('b', 64) + "\",\"size\":10,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}";
        byte[] json = Encoding.UTF8.GetBytes($"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciIndex}\",\"manifests\":[{amd},{arm}]}}");
        Assert.True(ManifestIndex.IsIndex(json, null));
        ManifestIndex index = ManifestIndex.Parse(json);
        Assert.Equal('b', index.Select("linux/arm64").Descriptor.Digest.Hex[0]);
        Assert.Equal('b', index.Select("linux/arm64/v8").Descriptor.Digest.Hex[0]);
        var error = Assert.Throws<InvalidManifestException>(() => index.Select("windows/amd64"));
        Assert.Contains("linux/amd64, linux/arm64/v8", error.Message, StringComparison.Ordinal);

        ManifestIndex single = ManifestIndex.Parse(Encoding.UTF8.GetBytes($"{{\"manifests\":[{arm}]}}"));
        Assert.Equal('b', single.Select(null).Descriptor.Digest.Hex[0]);
    }

    [Fact]
    public void ForIndex_ChildrenFirst_ThenEachBlobOnce_AndSizesMustAgree()
    {
        static string Image(char config, char layer, long layerSize) =>
            $"{{\"schemaVersion\":2,\"config\":{{\"mediaType\":\"c\",\"digest\":\"sha256:{new string(config, 64)}\",\"size\":7}},"
            + $"\"layers\":[{{\"mediaType\":\"l\",\"digest\":\"sha256:{new string(layer, 64)}\",\"size\":{layerSize}}}]}}";
        static IndexEntry Entry(char digest, string architecture) =>
            new(new Descriptor(MediaTypes.OciManifest, Digest.Parse("sha256:" + new string(digest, 64)), 100), "linux", architecture, null);

        Manifest amd = Manifest.Parse(Encoding.UTF8.GetBytes(Image('c', 'a', 1000)));
        Manifest arm = Manifest.Parse(Encoding.UTF8.GetBytes(Image('c', 'b', 2000)));
        Manifest whole = Manifest.ForIndex(MediaTypes.OciIndex, [(Entry('1', "amd64"), amd), (Entry('2', "arm64"), arm)]);

        Assert.True(whole.IsIndex);
        Assert.Equal(['1', '2', 'c', 'a', 'b'], whole.Blobs.Select(b => b.Digest.Hex[0]));
        Assert.Equal(100 + 100 + 7 + 1000 + 2000, whole.TotalSize);
        Assert.True(whole.IsChild(Entry('2', "arm64").Descriptor.Digest));
        Assert.False(whole.IsChild(amd.Config.Digest));
        Assert.False(amd.IsIndex);

        // The same layer with two sizes in two children is refused, as within one manifest.
        Manifest conflicting = Manifest.Parse(Encoding.UTF8.GetBytes(Image('c', 'a', 999)));
        var error = Assert.Throws<InvalidManifestException>(() => Manifest.ForIndex(null, [(Entry('1', "amd64"), amd), (Entry('2', "arm64"), conflicting)]));
        Assert.Contains("listed with sizes 1000 and 999", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidManifestException>(() => Manifest.ForIndex(null, []));
        Assert.Throws<InvalidManifestException>(() => Manifest.ForIndex(null, [(Entry('3', "amd64"), whole)]));
    }

    [Fact]
    public void Index_WithMoreEntriesThanAccepted_IsRefused()
    {
        string entry = "{\"digest\":\"sha256:" + new string('a', 64) + "\",\"size\":10}";
        byte[] json = Encoding.UTF8.GetBytes("{\"manifests\":[" + string.Join(',', Enumerable.Repeat(entry, ManifestIndex.MaxEntries + 1)) + "]}");
        var error = Assert.Throws<InvalidManifestException>(() => ManifestIndex.Parse(json));
        Assert.Contains($"more than the {ManifestIndex.MaxEntries} accepted", error.Message, StringComparison.Ordinal);
    }
}
