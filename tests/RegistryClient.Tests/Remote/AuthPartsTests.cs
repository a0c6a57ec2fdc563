using RegistryClient.Remote;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Remote;

/// <summary>The pieces of registry auth on their own: challenges, Docker's config.json, Ed25519 and Ollama keys.</summary>
public sealed class AuthPartsTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void ParseParameters_QuotedCommasEscapesAndBareTokens()
    {
        var parameters = AuthChallenge.ParseParameters(
            "realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push repository:c:pull\", error=invalid_token, x=\"q\\\"uote\"");

        Assert.Equal("https://auth.example/token", parameters["realm"]);
        Assert.Equal("registry.example", parameters["service"]);
        Assert.Equal("repository:a/b:pull,push repository:c:pull", parameters["scope"]);
        Assert.Equal("invalid_token", parameters["error"]);
        Assert.Equal("q\"uote", parameters["x"]);
    }

    [Fact]
    public void ParseParameters_UnterminatedQuote_DropsOnlyThatParameter()
    {
        var parameters = AuthChallenge.ParseParameters("realm=\"https://a/token\",service=\"cut");

        Assert.Equal("https://a/token", Assert.Single(parameters).Value);
    }

    [Theory]
    [InlineData("https://127.0.0.1:5000/v2/library/alpha/manifests/latest", "repository:library/alpha:pull")]
    [InlineData("https://h/v2/team/x/blobs/sha256:00", "repository:team/x:pull")]
    [InlineData("https://h/v2/a/b/tags/list?n=10", "repository:a/b:pull")]
    [InlineData("https://h/v2/a/b/chunksums/sha256:00", "repository:a/b:pull")]
    [InlineData("https://h/v2/", null)]
    [InlineData("https://storage.example/blob?sig=1", null)]
    public void ScopeFor_RegistryApiUrls(string url, string? scope) => Assert.Equal(scope, RegistryAuthenticator.ScopeFor(new Uri(url)));

    /// <summary>A mount needs <c>pull</c> on the repository it mounts from; a <c>from</c> that is not a plain repository path adds nothing.</summary>
    [Theory]
    [InlineData("https://h/v2/team/copy/blobs/uploads/?mount=sha256:00&from=library/pushed", "repository:team/copy:pull,push repository:library/pushed:pull")]
    [InlineData("https://h/v2/team/copy/blobs/uploads/?from=library%2Fpushed&mount=sha256:00", "repository:team/copy:pull,push repository:library/pushed:pull")]
    [InlineData("https://h/v2/team/copy/blobs/uploads/", "repository:team/copy:pull,push")]
    [InlineData("https://h/v2/team/copy/blobs/uploads/?mount=sha256:00&from=x%20repository:y:push", "repository:team/copy:pull,push")]
    [InlineData("https://h/v2/team/copy/blobs/uploads/?mount=sha256:00&from=team/copy", "repository:team/copy:pull,push")]
    public void ScopeFor_AMount_AsksForTheSourceToo(string url, string scope) => Assert.Equal(scope, RegistryAuthenticator.ScopeFor(new Uri(url), write: true));

    [Fact]
    public void DockerConfig_FindsEntriesWrittenWithSchemesPathsAndDockerHubAliases()
    {
        string path = _temp.Combine("config.json");
        File.WriteAllText(path, """
            {
              "auths": {
                "https://index.docker.io/v1/": { "auth": "aHViOmh1YnBhc3M=" },
                "http://127.0.0.1:5000/": { "username": "plain", "password": "p:w" },
                "ghcr.io": { "identitytoken": "refresh-me" }
              },
              "credsStore": "desktop",
              "HttpHeaders": { "X-Keep": "me" }
            }
            """);
        DockerConfig config = DockerConfig.Load(path);

        Assert.Equal("hub", config.Find("registry-1.docker.io")!.Username);
        Assert.Equal("hubpass", config.Find("docker.io")!.Password);
        Assert.Equal("p:w", config.Find("127.0.0.1:5000")!.Password);
        Assert.Null(config.Find("127.0.0.1:5001"));
        Assert.Null(config.Find("127.0.0.1"));
        RegistryCredential token = config.Find("GHCR.io")!;
        Assert.Equal("refresh-me", token.IdentityToken);
        Assert.False(token.HasPassword);
        Assert.DoesNotContain("refresh-me", token.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hubpass", config.Find("docker.io")!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void DockerConfig_SaveAndRemove_KeepOtherKeys_OwnerOnly()
    {
        string path = _temp.Combine("docker", "config.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, """{"auths":{"other.example":{"auth":"bzpw"}},"credHelpers":{"x":"y"}}""");

        DockerConfig.Load(path).Save("https://Reg.Example:5000", new RegistryCredential("me", "s3cret"));

        DockerConfig reread = DockerConfig.Load(path);
        Assert.Equal("s3cret", reread.Find("reg.example:5000")!.Password);
        Assert.Equal("o", reread.Find("other.example")!.Username);
        Assert.Contains("\"credHelpers\"", File.ReadAllText(path), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        Assert.Equal(["other.example", "reg.example:5000"], reread.Authorities);

        Assert.True(reread.Remove("reg.example:5000"));
        Assert.False(DockerConfig.Load(path).Remove("reg.example:5000"));
        Assert.Null(DockerConfig.Load(path).Find("reg.example:5000"));
        Assert.NotNull(DockerConfig.Load(path).Find("other.example"));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!)); // no temporary file left
    }

    [Theory]
    [InlineData("{\"auths\":{\"h\":{\"auth\":\"not base64!\"}}}", "is not base64")]
    [InlineData("{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}", "not base64 of user:password")]
    [InlineData("{\"auths\":{\"h\":{}}}", "neither user:password nor an identity token")]
    public void DockerConfig_BadEntry_IsAClearErrorNamingTheFileAndTheFix(string json, string expected)
    {
        string path = _temp.Combine("bad.json");
        File.WriteAllText(path, json);

        var error = Assert.Throws<InvalidDataException>(() => DockerConfig.Load(path).Find("h"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("regc login h", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("{\"auths\":[]}")]
    [InlineData("{not json")]
    public void DockerConfig_NotAnObject_IsAClearError(string json)
    {
        string path = _temp.Combine("broken.json");
        File.WriteAllText(path, json);

        var error = Assert.Throws<InvalidDataException>(() => DockerConfig.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ed25519_MatchesRfc8032TestVector2()
    {
        byte[] seed = Convert.FromHexString("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
        byte[] publicKey = Convert.FromHexString("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
        byte[] expected = Convert.FromHexString(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");

        byte[] signature = Ed25519.Sign(seed, [0x72]);

        Assert.Equal(expected, signature);
        Assert.True(Ed25519.Verify(publicKey, [0x72], signature));
        Assert.False(Ed25519.Verify(publicKey, [0x73], signature));
        signature[10] ^= 1;
        Assert.False(Ed25519.Verify(publicKey, [0x72], signature));
    }

    [Fact]
    public async Task OllamaKey_FromSshKeygen_SignsWhatOpensslVerifies()
    {
        string key = _temp.Combine("id_ed25519");
        await RunAsync("ssh-keygen", "-t", "ed25519", "-N", "", "-C", "regc-test", "-q", "-f", key);

        OllamaKey ollama = OllamaKey.Load(key);

        Assert.Equal(File.ReadAllText(key + ".pub").Split(' ')[1], ollama.PublicKeyText);
        var url = new Uri("https://registry.example/v2/token?nonce=abc&scope=repository%3Alibrary%2Fx%3Apull&service=registry.example&ts=1700000000");
        string authorization = ollama.SignRequest(url);
        Assert.Equal(ollama.PublicKeyText, OllamaKey.VerifyRequest(url, authorization));
        Assert.Null(OllamaKey.VerifyRequest(new Uri(url.AbsoluteUri.Replace("ts=1700000000", "ts=1700000001", StringComparison.Ordinal)), authorization));

        // An independent check: OpenSSL verifies the signature over the same text with the raw public key.
        string signature = _temp.Combine("sig"), message = _temp.Combine("msg"), publicPem = _temp.Combine("pub.pem");
        File.WriteAllBytes(signature, Convert.FromBase64String(authorization[(authorization.IndexOf(':', StringComparison.Ordinal) + 1)..]));
        File.WriteAllBytes(message, OllamaKey.SignedText(url));
        byte[] spki = [.. Convert.FromHexString("302a300506032b6570032100"), .. ollama.PublicKey.ToArray()];
        File.WriteAllText(publicPem, $"-----BEGIN PUBLIC KEY-----\n{Convert.ToBase64String(spki)}\n-----END PUBLIC KEY-----\n");
        string output = await RunAsync("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", publicPem, "-rawin", "-in", message, "-sigfile", signature);
        Assert.Contains("Signature Verified Successfully", output, StringComparison.Ordinal);
    }

    /// <summary>Credential helpers are asked as Docker asks them (Docker Hub under its v1 URL) and only by a plain name, never a path.</summary>
    [Theory]
    [InlineData("registry.lan:5000", false, "registry.lan:5000")]
    [InlineData("docker.io", true, "https://index.docker.io/v1/")]
    public void CredentialHelper_IsAskedAsDockerAsks(string authority, bool hub, string asked) =>
        Assert.Equal(asked, CredentialHelper.ServerUrl(authority, hub));

    [Theory]
    [InlineData("desktop", true)]
    [InlineData("ecr-login", true)]
    [InlineData("pass_1.2", true)]
    [InlineData("", false)]
    [InlineData("../evil", false)]
    [InlineData("/usr/bin/x", false)]
    [InlineData(".hidden", false)]
    [InlineData("a b", false)]
    public void CredentialHelper_NamesArePlainWords(string name, bool valid) => Assert.Equal(valid, CredentialHelper.IsValidName(name));

    [Fact]
    public async Task OllamaKey_EncryptedOrNotEd25519_IsRefusedClearly()
    {
        string encrypted = _temp.Combine("enc"), rsa = _temp.Combine("rsa");
        await RunAsync("ssh-keygen", "-t", "ed25519", "-N", "passphrase", "-q", "-f", encrypted);
        await RunAsync("ssh-keygen", "-t", "rsa", "-b", "2048", "-N", "", "-q", "-f", rsa);

        Assert.Contains("encrypted", Assert.Throws<InvalidDataException>(() => OllamaKey.Load(encrypted)).Message, StringComparison.Ordinal);
        Assert.Contains("not an Ed25519 key", Assert.Throws<InvalidDataException>(() => OllamaKey.Load(rsa)).Message, StringComparison.Ordinal);
        Assert.Contains("no BEGIN/END", Assert.Throws<InvalidDataException>(() => OllamaKey.Parse("junk")).Message, StringComparison.Ordinal);
        string cut = File.ReadAllText(rsa).Replace("-----END", "x-----END", StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => OllamaKey.Parse(cut[..200] + "\n-----END OPENSSH PRIVATE KEY-----\n"));
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        (int exit, string stdout, string stderr) = await ExternalTool.RunAsync(file, args);
        Assert.True(exit == 0, $"{file} failed: {stderr}");
        return stdout + stderr;
    }
}
