using RegistryClient.Store;

namespace RegistryClient.Tests.Store;

public sealed class ReceiveBufferPoolTests
{
    [Fact]
    public void TryRent_GivesAtMostTheCapacity_AndReusesTheLastReturnedFirst()
    {
        var pool = new ReceiveBufferPool(bufferSize: 16 << 10, capacity: 3 * (16 << 10));

        ReceiveBuffer?[] rented = [pool.TryRent(), pool.TryRent(), pool.TryRent()];

        Assert.All(rented, Assert.NotNull);
        Assert.Equal(3, rented.Distinct().Count());
        Assert.Null(pool.TryRent());
        pool.Return(rented[0]!);
        pool.Return(rented[2]!);
        Assert.Same(rented[2], pool.TryRent());
        Assert.Same(rented[0], pool.TryRent());
        Assert.Null(pool.TryRent());
        Assert.Equal(3, pool.Made);
    }

    [Theory]
    [InlineData(0L, 16384)]
    [InlineData(1L, 16384)]
    [InlineData(4095L, 100)]
    [InlineData(123_456_789L, 16384)]
    public void For_PlacesTheBytesAtTheFileOffsetsAlignmentAndHasRoomForAWholeRead(long position, int length)
    {
        var pool = new ReceiveBufferPool(bufferSize: 16 << 10, capacity: 1 << 20);
        ReceiveBuffer buffer = pool.TryRent()!;

        ReceiveLease lease = buffer.For(position, length);

        Assert.Equal(length, lease.Length);
        Assert.Same(buffer, lease.Buffer);
        Assert.Equal(0, buffer.AddressOf(0) % DirectIo.Alignment);
        Assert.Equal(position % DirectIo.Alignment, buffer.AddressOf(lease.Start) % DirectIo.Alignment);
        lease.Memory.Span.Fill(0x5a); // the whole read fits
        Assert.Equal(0x5a, buffer.Memory.Span[lease.Start + length - 1]);
    }

    [Fact]
    public void Return_ToAnotherPool_Throws()
    {
        var pool = new ReceiveBufferPool(4096, 4096);
        var other = new ReceiveBufferPool(4096, 4096);

        Assert.Throws<ArgumentException>(() => other.Return(pool.TryRent()!));
    }
}
