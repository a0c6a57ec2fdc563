using RegistryClient.Content;
using RegistryClient.Maintenance;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Maintenance;

/// <summary>
/// <c>verify --fast</c>: fingerprints recorded when SHA-256 proves a blob, compared later piece by piece; a blob
/// without them (or with a damaged record) falls back to SHA-256, which records them.
/// </summary>
public sealed class FastVerifyTests : IAsyncLifetime
{
    private const long Big = (3 * BlobFingerprints.PieceSize) + 12_345;
    private readonly TempDirectory _temp = new();
    private ModelStore _store = null!;
    private Manifest _manifest = null!;

    public async ValueTask InitializeAsync()
    {
        byte[] manifest;
        (_store, manifest) = await TestModels.CreateAsync(_temp.Combine("store"), "registry.ollama.ai/library/fast:latest", [Big, 2_000], seed: 41);
        _manifest = Manifest.Parse(manifest);
    }

    public ValueTask DisposeAsync()
    {
        _temp.Dispose();
        return ValueTask.CompletedTask;
    }

    private Descriptor Layer => _manifest.Layers[0];

    private void Flip(long at)
    {
        using var handle = File.OpenHandle(_store.GetBlobPath(Layer.Digest), FileMode.Open, FileAccess.ReadWrite);
        byte[] one = new byte[1];
        RandomAccess.Read(handle, one, at);
        one[0] ^= 0x04;
        RandomAccess.Write(handle, one, at);
    }

    [Fact]
    public async Task FullCheck_RecordsFingerprints_ThenTheFastCheckComparesEveryBlobWithThem()
    {
        Assert.Null(_store.TryReadFingerprints(Layer.Digest, Big));

        VerifyReport full = await new StoreVerifier(_store).VerifyAsync(TestContext.Current.CancellationToken);
        Assert.True(full.IsHealthy);
        Assert.Equal(0, full.ComparedBlobs);
        Assert.All(_manifest.Blobs, b => Assert.NotNull(_store.TryReadFingerprints(b.Digest, b.Size)));

        VerifyReport fast = await new StoreVerifier(_store).VerifyAsync(fast: true, TestContext.Current.CancellationToken);
        Assert.True(fast.IsHealthy);
        Assert.Equal(_manifest.Blobs.Count, fast.ComparedBlobs);
        Assert.Equal(_manifest.Blobs.Count, fast.Blobs);
        Assert.Equal(_manifest.Blobs.Sum(b => b.Size), fast.BytesHashed);
    }

    [Fact]
    public async Task FlippedByte_IsNamedByItsPieceWithTheModel()
    {
        await new StoreVerifier(_store).VerifyAsync(TestContext.Current.CancellationToken);
        Flip((2 * BlobFingerprints.PieceSize) + 77);

        VerifyReport fast = await new StoreVerifier(_store).VerifyAsync(fast: true, TestContext.Current.CancellationToken);

        VerifyFinding finding = Assert.Single(fast.Findings, f => f.IsDamage);
        Assert.Equal(FindingKind.Corrupt, finding.Kind);
        Assert.Equal(Layer.Digest, finding.Digest);
        Assert.Equal([new Chunk(2 * BlobFingerprints.PieceSize, (3 * BlobFingerprints.PieceSize) - 1)], finding.BadChunks);
        Assert.Contains("differs from its fingerprints", finding.Detail, StringComparison.Ordinal);
        Assert.Equal(["registry.ollama.ai/library/fast:latest"], finding.Models);

        VerifyReport full = await new StoreVerifier(_store).VerifyAsync(TestContext.Current.CancellationToken);
        Assert.Contains("hashes to", Assert.Single(full.Findings, f => f.IsDamage).Detail, StringComparison.Ordinal); // SHA-256 agrees
    }

    [Fact]
    public async Task WithoutFingerprints_TheFastCheckHashesBySha256AndRecordsThem()
    {
        VerifyReport first = await new StoreVerifier(_store).VerifyAsync(fast: true, TestContext.Current.CancellationToken);
        Assert.True(first.IsHealthy);
        Assert.Equal(0, first.ComparedBlobs);
        Assert.NotNull(_store.TryReadFingerprints(Layer.Digest, Big));

        // Damage without fingerprints is found by the SHA-256 fallback, and no fingerprints are recorded for it.
        File.Delete(_store.GetFingerprintsPath(Layer.Digest));
        Flip(5);
        VerifyReport damaged = await new StoreVerifier(_store).VerifyAsync(fast: true, TestContext.Current.CancellationToken);
        Assert.Contains("hashes to", Assert.Single(damaged.Findings, f => f.IsDamage).Detail, StringComparison.Ordinal);
        Assert.Null(_store.TryReadFingerprints(Layer.Digest, Big));
    }

    [Fact]
    public async Task DamagedRecord_FallsBackToSha256AndIsRewritten()
    {
        await new StoreVerifier(_store).VerifyAsync(TestContext.Current.CancellationToken);
        string record = _store.GetFingerprintsPath(Layer.Digest);
        byte[] good = await File.ReadAllBytesAsync(record, TestContext.Current.CancellationToken);
        byte[] bad = (byte[])good.Clone();
        bad[40] ^= 0xFF;
        await File.WriteAllBytesAsync(record, bad, TestContext.Current.CancellationToken);

        VerifyReport fast = await new StoreVerifier(_store).VerifyAsync(fast: true, TestContext.Current.CancellationToken);

        Assert.True(fast.IsHealthy); // the blob is fine; only its record was damaged
        Assert.Equal(_manifest.Blobs.Count - 1, fast.ComparedBlobs);
        Assert.Equal(good, await File.ReadAllBytesAsync(record, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Prune_RemovesTheFingerprintsOfBlobsNoLongerInTheStore()
    {
        await new StoreVerifier(_store).VerifyAsync(TestContext.Current.CancellationToken);
        string record = _store.GetFingerprintsPath(Layer.Digest);
        File.Delete(_store.GetBlobPath(Layer.Digest));

        IReadOnlyList<PruneItem> plan = new StorePruner(_store).Plan();

        Assert.Contains(plan, item => item.Path == record);
        Assert.DoesNotContain(plan, item => item.Path == _store.GetFingerprintsPath(_manifest.Layers[1].Digest));
    }

    [Fact]
    public async Task Cli_FastCheck_SaysWhatItDetectsAndExits1OnDamage()
    {
        (int exit, string stdout, string stderr) = await RegcProcess.RunAsync("verify", "--models", _store.Root);
        Assert.True(exit == 0, stderr);
        Flip(BlobFingerprints.PieceSize);

        (exit, stdout, stderr) = await RegcProcess.RunAsync("verify", "--fast", "--models", _store.Root);

        Assert.Equal(1, exit);
        Assert.Contains($"corrupt      {Layer.Digest} differs from its fingerprints in bytes {BlobFingerprints.PieceSize}-{(2 * BlobFingerprints.PieceSize) - 1}", stdout, StringComparison.Ordinal);
        Assert.Contains("not tampering", stdout, StringComparison.Ordinal);
        Assert.Contains("regc verify --repair", stdout, StringComparison.Ordinal);
    }
}
