using RegistryClient.Names;
using RegistryClient.Store;

namespace RegistryClient.Tests.Names;

public sealed class ModelNameTests
{
    [Fact]
    public void Parse_BareModel_UsesOllamaDefaults()
    {
        ModelName name = ModelName.Parse("llama3.2");
        Assert.Equal(("registry.ollama.ai", "library", "llama3.2", "latest"), (name.Host, name.Namespace, name.Model, name.Tag));
        Assert.Equal("https", name.Scheme);
        Assert.Equal("llama3.2", name.Original);
        Assert.Equal(new Uri("https://registry.ollama.ai/"), name.RegistryUri(insecure: false));
    }

    [Theory]
    [InlineData("host:5000/ns/model:tag", "host:5000", "ns", "model", "tag")]
    [InlineData("ns/model", "registry.ollama.ai", "ns", "model", "latest")]
    [InlineData("example.com/model:v1.0", "example.com", "library", "model", "v1.0")]
    [InlineData("localhost/model", "localhost", "library", "model", "latest")]
    [InlineData("localhost:5000/model", "localhost:5000", "library", "model", "latest")]
    [InlineData("http://127.0.0.1:8080/a/b:c", "127.0.0.1:8080", "a", "b", "c")]
    [InlineData("qwen2.5-coder:7b-instruct-q4_K_M", "registry.ollama.ai", "library", "qwen2.5-coder", "7b-instruct-q4_K_M")]
    public void Parse_ValidNames_SplitsParts(string text, string host, string ns, string model, string tag)
    {
        ModelName name = ModelName.Parse(text);
        Assert.Equal((host, ns, model, tag), (name.Host, name.Namespace, name.Model, name.Tag));
    }

    [Fact]
    public void Parse_HttpScheme_IsExplicitAndUsed()
    {
        ModelName name = ModelName.Parse("http://localhost:5000/library/m");
        Assert.True(name.IsSchemeExplicit);
        Assert.Equal(new Uri("http://localhost:5000/"), name.RegistryUri(insecure: false));
    }

    [Fact]
    public void RegistryUri_Insecure_UsesHttpOnlyWithoutExplicitScheme()
    {
        Assert.Equal("http", ModelName.Parse("localhost:5000/a/b").RegistryUri(insecure: true).Scheme);
        Assert.Equal("https", ModelName.Parse("https://localhost:5000/a/b").RegistryUri(insecure: true).Scheme);
    }

    [Fact]
    public void Parse_Digest_PinsManifestAndDerivesTag()
    {
        string digest = "sha256:" + new string('a', 64);
        ModelName name = ModelName.Parse("model@" + digest);
        Assert.Equal(digest, name.Digest.ToString());
        Assert.Equal(digest, name.Reference);
        Assert.Equal("sha256-" + new string('a', 64), name.Tag);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("..", "start with")]
    [InlineData("a/../b", "start with")]
    [InlineData("ns/mo..del", "must not contain \"..\"")]
    [InlineData("a\\b", "may contain only")]
    [InlineData("/abs", "namespace")]
    [InlineData("a//b", "empty")]
    [InlineData("a/b/c/d", "at most")]
    [InlineData(".hidden", "start with")]
    [InlineData("-dash", "start with")]
    [InlineData("%2e%2e", "start with")]
    [InlineData("m%2fx", "may contain only")]
    [InlineData("\uff0e\uff0e", "start with")]
    [InlineData("a\u2215b", "may contain only")]
    [InlineData("caf\u00e9", "may contain only")]
    [InlineData("CON", "reserved")]
    [InlineData("model.", "end with")]
    [InlineData("model :tag", "may contain only")]
    [InlineData("model:", "tag")]
    [InlineData("host:99999/a/b", "port")]
    [InlineData("host:x/a/b", "port")]
    [InlineData("ftp://host/a/b", "scheme")]
    [InlineData("host/ns.x/model", "namespace")]
    [InlineData("model@sha256:abc", "digest")]
    [InlineData("model@sha256:" + "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789", "digest")]
    [InlineData("a\0b", "may contain only")]
    [InlineData("a\nb", "may contain only")]
    public void Parse_InvalidNames_ThrowWithReason(string text, string reason)
    {
        var error = Assert.Throws<InvalidModelNameException>(() => ModelName.Parse(text));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Parse_LongParts_AreRejected()
    {
        Assert.Throws<InvalidModelNameException>(() => ModelName.Parse(new string('m', 81)));
        Assert.Equal(80, ModelName.Parse(new string('m', 80)).Model.Length);
        Assert.Throws<InvalidModelNameException>(() => ModelName.Parse("ns/model:" + new string('t', 81)));
    }

    [Fact]
    public void Equality_IsCaseInsensitive_AndStorePathIsLowerCase()
    {
        ModelName upper = ModelName.Parse("Registry.Ollama.AI/Library/Llama:Latest");
        ModelName lower = ModelName.Parse("llama");
        Assert.Equal(lower, upper);
        Assert.Equal(lower.GetHashCode(), upper.GetHashCode());
        Assert.Equal(["registry.ollama.ai", "library", "llama", "latest"], upper.StorePathParts);
        Assert.Equal("Registry.Ollama.AI/Library/Llama:Latest", upper.Original);
    }

    [Fact]
    public void Parse_RandomText_NeverYieldsAPathOutsideTheStore()
    {
        // A seeded fuzz over the characters that matter for paths.
        const string Alphabet = "ab./\\:@-_%~ \0.\u2215\uff0eC0";
        var store = new ModelStore("/tmp/regc-fuzz-root");
        ulong state = 12345;
        int accepted = 0;
        for (int i = 0; i < 20000; i++)
        {
            state = (state * 6364136223846793005UL) + 1442695040888963407UL;
            int length = 1 + (int)((state >> 33) % 24);
            var chars = new char[length];
            for (int j = 0; j < length; j++)
            {
                state = (state * 6364136223846793005UL) + 1442695040888963407UL;
                chars[j] = Alphabet[(int)((state >> 33) % (ulong)Alphabet.Length)];
            }

            if (ModelName.TryParse(new string(chars), out ModelName? name, out _))
            {
                accepted++;
                string path = Path.GetFullPath(store.GetManifestPath(name));
                Assert.StartsWith(store.ManifestsDirectory + Path.DirectorySeparatorChar, path, StringComparison.Ordinal);
                Assert.Equal(4, Path.GetRelativePath(store.ManifestsDirectory, path).Split(Path.DirectorySeparatorChar).Length);
            }
        }

        Assert.True(accepted > 100, $"the fuzz accepted only {accepted} names; it tests too little");
    }
}
