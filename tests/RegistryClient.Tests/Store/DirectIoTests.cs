using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Store;

public sealed class DirectIoTests
{
    [Theory]
    [InlineData(0, 0, 8192, 0, 8192)] // all aligned
    [InlineData(0, 0, 10_000, 0, 8192)] // a tail through the page cache
    [InlineData(4196, 100, 10_000, 3996, 4096)] // an unaligned head up to the next boundary, then whole blocks
    [InlineData(4196, 100, 3000, 3000, 0)] // shorter than the head: nothing direct
    [InlineData(0, 100, 10_000, 10_000, 0)] // memory and file disagree modulo the alignment: nothing direct
    [InlineData(4096, 8192, 4096, 0, 4096)]
    public void Split_SendsOnlyWholeBlocksWhereMemoryAndFileAgree(long address, long offset, int length, int head, int middle)
    {
        Assert.Equal((head, middle), DirectIo.Split((nint)address, offset, length));
    }

    [Fact]
    public async Task PartialWrites_OfReceiveBuffersAndArraysAtAnyOffset_LeaveEveryByteInTheFile()
    {
        using var temp = new TempDirectory();
        var store = new ModelStore(temp.Combine("store"));
        byte[] content = RandomNumberGenerator.GetBytes((3 << 20) + 12_345);
        var descriptor = new Descriptor(MediaTypes.OllamaModel, Digest.Compute(content), content.Length);
        using PartialBlob partial = PartialBlob.TryClaim(store, descriptor, PartialOwner.Current)!;
        var pool = new ReceiveBufferPool(256 << 10, 1 << 20);
        long[] cuts = [0, 100_001, 204_800, 1 << 20, (1 << 20) + 1, (1 << 20) + 4097, (2 << 20) - 7, 2 << 20, (2 << 20) + 200_000, content.Length];
        var pieces = new List<(long Start, int Length)>();
        for (int i = 0; i + 1 < cuts.Length; i++)
        {
            for (long start = cuts[i]; start < cuts[i + 1]; start += pool.BufferSize)
            {
                pieces.Add((start, (int)Math.Min(pool.BufferSize, cuts[i + 1] - start)));
            }
        }

        // Out of order, as parallel chunks land; every third piece from an ordinary array (the page cache only).
        int n = 0;
        foreach ((long start, int length) in pieces.OrderBy(p => (p.Start * 7919) % 65_521))
        {
            ReceiveBuffer? buffer = n++ % 3 == 2 ? null : pool.TryRent();
            if (buffer?.For(start, length) is { } lease)
            {
                content.AsSpan((int)start, length).CopyTo(lease.Memory.Span);
                await partial.WriteAsync(lease, start, TestContext.Current.CancellationToken);
                lease.Return();
            }
            else
            {
                await partial.WriteAsync(content.AsMemory((int)start, length).ToArray(), start, TestContext.Current.CancellationToken);
            }
        }

        partial.Flush();
        byte[] back = new byte[content.Length];
        for (int read = 0; read < back.Length;)
        {
            read += await partial.ReadAsync(back.AsMemory(read), read, TestContext.Current.CancellationToken);
        }

        Assert.Equal(content, back);
        using (Microsoft.Win32.SafeHandles.SafeFileHandle? probe = DirectIo.TryOpen(partial.Path))
        {
            Assert.Equal(probe is not null, partial.WroteDirect); // direct wherever the file system takes it
        }
    }
}
