using System.Security.Cryptography;
using RegistryClient.Cli.Samples;

namespace RegistryClient.Tests.Cli;

public sealed class SampleDataStreamTests
{
    [Theory]
    [InlineData(1UL, 0L, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData(1UL, 1L, "sha256:d1bbd73bb09190bfb883056771e22e997541ed20079793bf33975fe1654581c3")]
    [InlineData(1UL, 5L, "sha256:89f72d45d7330be87c2bd6496f3e9d521a2070f1067590dd0ba1503b663b59b8")]
    [InlineData(1UL, 1000L, "sha256:c0b94bf9b8006ee0a267d24ebca4081cf341d64eb4513f3c7ea164f2818d2299")]
    [InlineData(2UL, 1048576L, "sha256:5a973022903a59e88dc4401479ce449616d3f59cb59c3619d9d9673b438963cb")]
    public void Stream_KnownSeeds_GiveCommittedDigests(ulong seed, long size, string expected)
    {
        using var stream = new SampleDataStream(seed, size);
        Assert.Equal(expected, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    [Fact]
    public void Fill_AtAnyOffset_MatchesTheSequentialStream()
    {
        byte[] all = new byte[1000];
        using (var stream = new SampleDataStream(7, all.Length))
        {
            stream.ReadExactly(all);
        }

        foreach (int offset in new[] { 0, 1, 7, 8, 9, 500, 993 })
        {
            byte[] part = new byte[all.Length - offset];
            SampleDataStream.Fill(7, offset, part);
            Assert.Equal(all[offset..], part);
        }
    }
}
