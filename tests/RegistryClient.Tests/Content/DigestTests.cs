using RegistryClient.Content;

namespace RegistryClient.Tests.Content;

public sealed class DigestTests
{
    // SHA-256 of "abc" (FIPS 180-2 test vector), used as the known digest throughout.
    private const string Abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    [Fact]
    public void Compute_KnownVector_FormatsCanonically()
    {
        Digest digest = Digest.Compute("abc"u8);
        Assert.Equal(Abc, digest.ToString());
        Assert.Equal("ba7816bf8f01", digest.Short);
        Assert.Equal("sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", digest.FileName);
    }

    [Fact]
    public void Parse_RoundTrips_AndComparesByValue()
    {
        Digest parsed = Digest.Parse(Abc);
        Assert.Equal(Digest.Compute("abc"u8), parsed);
        Assert.True(Digest.TryParseUtf8(System.Text.Encoding.ASCII.GetBytes(Abc), out Digest fromBytes));
        Assert.Equal(parsed, fromBytes);
        Assert.True(Digest.TryParseFileName(parsed.FileName, out Digest fromFile));
        Assert.Equal(parsed, fromFile);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sha256:")]
    [InlineData("sha256:ba7816bf")]
    [InlineData("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")]
    [InlineData("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("md5:ba7816bf8f01cfea414140de5dae2223")]
    [InlineData("sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("sha256:../../etc/passwd")]
    [InlineData("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/../x")]
    [InlineData("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a")]
    [InlineData("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0")]
    [InlineData("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001g5a")]
    [InlineData(" sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    public void Parse_NonCanonical_IsRejected(string text)
    {
        Assert.False(Digest.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => Digest.Parse(text));
        Assert.StartsWith("invalid digest", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParseFileName_UpperCase_IsRejected()
    {
        Assert.False(Digest.TryParseFileName("sha256-BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", out _));
        Assert.False(Digest.TryParseFileName("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", out _));
    }

    [Fact]
    public void Matches_ComparesRawHashBytes()
    {
        Digest digest = Digest.Compute("abc"u8);
        Span<byte> raw = stackalloc byte[32];
        digest.CopyTo(raw);
        Assert.True(digest.Matches(raw));
        raw[31] ^= 1;
        Assert.False(digest.Matches(raw));
        Assert.False(digest.Matches(raw[..31]));
    }
}
