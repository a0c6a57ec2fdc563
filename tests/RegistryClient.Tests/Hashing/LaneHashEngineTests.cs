using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Hashing;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Hashing;

/// <summary>The eight-lane SHA-256 and its engine against .NET's SHA256 on the same bytes.</summary>
public sealed class LaneHashEngineTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(55)]
    [InlineData(56)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(119)]
    [InlineData(120)]
    [InlineData(128)]
    [InlineData(1023)]
    [InlineData(1024)]
    [InlineData(1025)]
    [InlineData(1 << 20)]
    public async Task Digest_AtPaddingAndBlockBoundaries_MatchesSha256(int length)
    {
        byte[] data = RandomNumberGenerator.GetBytes(length);
        using var engine = new LaneHashEngine();
        using LaneHash whole = engine.CreateHash();
        using LaneHash bytewise = engine.CreateHash();

        await whole.AppendAsync(data);
        for (int i = 0; i < Math.Min(length, 2000); i++)
        {
            await bytewise.AppendAsync(data.AsMemory(i, 1));
        }

        await bytewise.AppendAsync(data.AsMemory(Math.Min(length, 2000)));
        Assert.Equal(SHA256.HashData(data), Finish(whole));
        Assert.Equal(SHA256.HashData(data), Finish(bytewise));
    }

    [Fact]
    public async Task ManyMessagesAtOnce_InUnevenPieces_EachMatchesSha256()
    {
        // More messages than lanes, appended from their own tasks in pieces of every size: lanes are shared,
        // freed and taken again mid-message, and every message still gets exactly its own bytes.
        using var engine = new LaneHashEngine();
        var random = new Random(7);
        byte[][] messages = Enumerable.Range(0, 20).Select(_ => RandomNumberGenerator.GetBytes(random.Next(0, 3 << 20))).ToArray();
        int[] seeds = Enumerable.Range(0, messages.Length).Select(_ => random.Next()).ToArray();

        byte[][] digests = await Task.WhenAll(messages.Select((message, i) => Task.Run(async () =>
        {
            var pieces = new Random(seeds[i]);
            using LaneHash hash = engine.CreateHash();
            for (int offset = 0; offset < message.Length;)
            {
                int length = Math.Min(message.Length - offset, pieces.Next(1, 300_000));
                await hash.AppendAsync(message.AsMemory(offset, length));
                offset += length;
            }

            return Finish(hash);
        })));

        for (int i = 0; i < messages.Length; i++)
        {
            Assert.Equal(SHA256.HashData(messages[i]), digests[i]);
        }
    }

    [Fact]
    public async Task GetHashAndReset_StartsANewMessage()
    {
        using var engine = new LaneHashEngine();
        using LaneHash hash = engine.CreateHash();
        byte[] first = RandomNumberGenerator.GetBytes(70_000), second = RandomNumberGenerator.GetBytes(3_000);

        await hash.AppendAsync(first);
        Assert.Equal(SHA256.HashData(first), Finish(hash));
        await hash.AppendAsync(second);
        Assert.Equal(SHA256.HashData(second), Finish(hash));
    }

    [Fact(Timeout = 60_000)]
    public async Task FewerMessagesThanTheStreamsExpected_StillRunAfterTheLinger()
    {
        // The engine waits for eight streams, and eight messages are announced; only two ever come. Each batch must
        // run short after its wait, rather than wait for streams that never start.
        using var engine = new LaneHashEngine(streams: 8);
        engine.Expect(8);
        byte[][] messages = [RandomNumberGenerator.GetBytes(24 << 20), RandomNumberGenerator.GetBytes((17 << 20) + 5)];

        byte[][] digests = await Task.WhenAll(messages.Select(message => Task.Run(async () =>
        {
            using LaneHash hash = engine.CreateHash();
            for (int offset = 0; offset < message.Length; offset += 1 << 20)
            {
                await hash.AppendAsync(message.AsMemory(offset, Math.Min(1 << 20, message.Length - offset)));
            }

            return Finish(hash);
        }, TestContext.Current.CancellationToken)));

        Assert.Equal(SHA256.HashData(messages[0]), digests[0]);
        Assert.Equal(SHA256.HashData(messages[1]), digests[1]);
    }

    [Theory]
    [InlineData(2, 6, 8, 8)] // more to come: wait for the caller's streams
    [InlineData(2, 100, 8, 8)]
    [InlineData(2, 3, 8, 5)] // only three more will come
    [InlineData(2, 0, 8, 2)] // none to come (a blob's last chunks): only the live ones
    [InlineData(3, -2, 8, 3)] // retries created more than announced
    [InlineData(12, 0, 8, 8)] // never more than the lanes
    [InlineData(1, 100, 1, 1)] // one stream: never waits for another
    public void BatchTarget_WaitsForStreamsOnlyWhileMoreMessagesAreToCome(int live, int coming, int streams, int expected)
    {
        Assert.Equal(expected, LaneHashEngine.BatchTarget(live, coming, streams));
    }

    [Fact]
    public void Streams_BelowOne_AreRefused() => Assert.Throws<ArgumentOutOfRangeException>(() => new LaneHashEngine(streams: 0));

    [Fact]
    public async Task Submit_AfterDispose_IsRefused()
    {
        var engine = new LaneHashEngine();
        using LaneHash hash = engine.CreateHash();
        engine.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => hash.AppendAsync(new byte[64 << 10]));
    }

    [Fact]
    public void Compress_WithALaneShorterThanTheBlocks_IsRefused()
    {
        var state = new uint[Avx2Sha256Kernel.Lanes * Avx2Sha256Kernel.StateWords];
        var lanes = Enumerable.Repeat<ReadOnlyMemory<byte>>(new byte[128], Avx2Sha256Kernel.Lanes).ToArray();
        lanes[5] = new byte[64];

        Assert.Throws<ArgumentOutOfRangeException>(() => Avx2Sha256Kernel.Compress(state, lanes, 2));
    }

    [Fact]
    public void Puller_HashesChunksInLanesWhereTheyBeatOpenSslWithEnoughParallelRanges()
    {
        Assert.Equal(Avx2Sha256Kernel.BeatsOpenSsl, ModelPuller.HashesInLanes(new PullOptions()));
        Assert.False(ModelPuller.HashesInLanes(new PullOptions { Concurrency = ModelPuller.MinLaneConcurrency - 1 }));
        Assert.True(ModelPuller.HashesInLanes(new PullOptions { Concurrency = 1, HashChunksInLanes = true }));
    }

    private static byte[] Finish(LaneHash hash)
    {
        byte[] digest = new byte[32];
        hash.GetHashAndReset(digest);
        return digest;
    }
}
