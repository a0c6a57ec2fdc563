using RegistryClient.Store;

namespace RegistryClient.Tests.Store;

public sealed class BlobFingerprintsTests
{
    private static byte[] Bytes(long size, int seed)
    {
        byte[] bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static BlobFingerprints Fingerprint(byte[] blob, int step)
    {
        var builder = new BlobFingerprints.Builder(blob.Length);
        for (int offset = 0; offset < blob.Length; offset += step)
        {
            builder.Append(blob.AsSpan(offset, Math.Min(step, blob.Length - offset)));
        }

        return builder.Finish();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(BlobFingerprints.PieceSize)]
    [InlineData((2 * BlobFingerprints.PieceSize) + 4097)]
    public void Builder_InAnyReadSize_GivesEachPieceTheXxHash128OfItsBytes(long size)
    {
        byte[] blob = Bytes(size, 7);

        BlobFingerprints odd = Fingerprint(blob, 999_983);
        BlobFingerprints whole = Fingerprint(blob, int.MaxValue);

        Assert.Equal(BlobFingerprints.PieceCount(size), odd.Count);
        Assert.Equal(odd.ToBytes(), whole.ToBytes());
        for (int i = 0; i < odd.Count; i++)
        {
            var piece = odd.Piece(i);
            Assert.True(odd.Matches(i, blob.AsSpan((int)piece.Start, (int)piece.Length)));
        }

        Assert.Equal(size, odd.Count == 0 ? 0 : odd.Piece(odd.Count - 1).End + 1); // the pieces cover the blob
        if (size > 0)
        {
            Assert.NotEqual(odd.ToBytes(), Fingerprint(Bytes(size, 70), 4096).ToBytes()); // other bytes, other fingerprints
        }
    }

    [Fact]
    public void Matches_OneFlippedBit_IsFoundInItsPieceOnly()
    {
        byte[] blob = Bytes((2 * BlobFingerprints.PieceSize) + 10, 8);
        BlobFingerprints prints = Fingerprint(blob, 1 << 20);
        blob[BlobFingerprints.PieceSize + 5] ^= 0x10;

        Assert.True(prints.Matches(0, blob.AsSpan(0, (int)BlobFingerprints.PieceSize)));
        Assert.False(prints.Matches(1, blob.AsSpan((int)BlobFingerprints.PieceSize, (int)BlobFingerprints.PieceSize)));
        Assert.True(prints.Matches(2, blob.AsSpan((int)(2 * BlobFingerprints.PieceSize))));
    }

    [Fact]
    public void Record_RoundTrips_AndADamagedOrForeignRecordIsRefused()
    {
        byte[] blob = Bytes((3 * BlobFingerprints.PieceSize) - 1, 9);
        byte[] record = Fingerprint(blob, 1 << 20).ToBytes();

        Assert.Equal(record, BlobFingerprints.TryParse(record, blob.Length)!.ToBytes());
        Assert.Null(BlobFingerprints.TryParse(record, blob.Length + 1)); // another size
        Assert.Null(BlobFingerprints.TryParse(record.AsSpan(0, record.Length - 1), blob.Length));
        for (int at = 0; at < record.Length; at += 7)
        {
            byte[] damaged = (byte[])record.Clone();
            damaged[at] ^= 0x01;
            Assert.Null(BlobFingerprints.TryParse(damaged, blob.Length));
        }
    }

    [Fact]
    public void Builder_MoreOrFewerBytesThanTheBlob_IsAnError()
    {
        var builder = new BlobFingerprints.Builder(10);
        Assert.Throws<InvalidOperationException>(() => builder.Append(new byte[11]));

        var short1 = new BlobFingerprints.Builder(10);
        short1.Append(new byte[9]);
        Assert.Throws<InvalidOperationException>(() => short1.Finish());
    }
}
