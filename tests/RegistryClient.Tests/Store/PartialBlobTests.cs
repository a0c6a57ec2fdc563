using System.Security.Cryptography;
using RegistryClient.Content;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Store;

/// <summary>A partial blob decides its own commit: only bytes that hash to the blob's digest ever reach blobs/.</summary>
public sealed class PartialBlobTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly ModelStore _store;
    private readonly byte[] _content = RandomNumberGenerator.GetBytes(300_000);

    public PartialBlobTests() => _store = new ModelStore(_temp.Combine("store"));

    public void Dispose() => _temp.Dispose();

    private Descriptor Blob => new(MediaTypes.OllamaModel, Digest.Compute(_content), _content.Length);

    private async Task<PartialBlob> WrittenAsync(byte[] bytes)
    {
        PartialBlob partial = PartialBlob.TryClaim(_store, Blob, PartialOwner.Current)!;
        await partial.WriteAsync(bytes, 0, TestContext.Current.CancellationToken);
        return partial;
    }

    [Fact]
    public async Task Commit_OfBytesThatHashToTheDigest_MovesThemIntoBlobs()
    {
        using PartialBlob partial = await WrittenAsync(_content);
        await partial.HashFromFileAsync(_content.Length, new byte[64 << 10], mayMap: true, alsoInto: null, TestContext.Current.CancellationToken);

        partial.Commit();

        Assert.Equal(_content, File.ReadAllBytes(_store.GetBlobPath(Blob.Digest)));
        Assert.Empty(_store.GetPartialFiles(Blob.Digest)); // partial, journal, owner record and claim all gone
        StoreAuditor.AssertConsistent(_store);
    }

    [Fact]
    public async Task Commit_RefusesBytesThatDoNotHashToTheDigest_AndKeepsNothing()
    {
        byte[] flipped = (byte[])_content.Clone();
        flipped[123_456] ^= 0x10;
        using PartialBlob partial = await WrittenAsync(flipped);
        await partial.HashFromFileAsync(flipped.Length, new byte[64 << 10], mayMap: false, alsoInto: null, TestContext.Current.CancellationToken);

        DigestMismatchException error = Assert.Throws<DigestMismatchException>(partial.Commit);

        Assert.Contains(Blob.Digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains($"arrived with digest {Digest.Compute(flipped)}", error.Message, StringComparison.Ordinal);
        Assert.Null(_store.GetBlobSize(Blob.Digest));
        Assert.Empty(_store.GetPartialFiles(Blob.Digest)); // known bad: discarded
    }

    [Fact]
    public async Task Commit_RefusesAFileWhoseBytesWereNotAllHashed()
    {
        using PartialBlob partial = await WrittenAsync(_content);
        partial.HashHeld(_content.AsSpan(0, 1000), alsoInto: null);

        StoreException error = Assert.Throws<StoreException>(partial.Commit);

        Assert.Contains($"1000 of its {_content.Length} bytes were hashed", error.Message, StringComparison.Ordinal);
        Assert.Null(_store.GetBlobSize(Blob.Digest));
    }

    [Fact]
    public async Task HashedBytesThrownAway_AreTakenBackBeforeTheCommitDecides()
    {
        using PartialBlob partial = await WrittenAsync(_content);
        partial.HashHeld(_content.AsSpan(0, 100_000), alsoInto: null);
        using (PrefixHash.Saved atChunk = partial.SaveHash())
        {
            partial.HashHeld(new byte[50_000], alsoInto: null); // bytes of an attempt later thrown away
            partial.RestoreHash(atChunk);
        }

        Assert.Equal(100_000, partial.HashedLength);
        partial.HashHeld(_content.AsSpan(100_000), alsoInto: null);
        partial.Commit();
        Assert.Equal(_content.Length, _store.GetBlobSize(Blob.Digest));
    }
}
