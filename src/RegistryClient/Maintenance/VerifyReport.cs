
namespace RegistryClient.Maintenance;

/// <summary>The result of <see cref="StoreVerifier.VerifyAsync(bool, CancellationToken)"/>.</summary>
/// <param name="Findings">Everything found, damage first, then by kind and path.</param>
/// <param name="Manifests">How many manifests were read.</param>
/// <param name="Blobs">How many blobs were hashed.</param>
/// <param name="BytesHashed">How many bytes were hashed.</param>
/// <param name="Elapsed">How long the run took.</param>
public sealed record VerifyReport(IReadOnlyList<VerifyFinding> Findings, int Manifests, int Blobs, long BytesHashed, TimeSpan Elapsed)
{
    /// <summary>Of <see cref="Blobs"/>, how many were compared with their fingerprints (a fast check) instead of hashed by SHA-256.</summary>
    public int ComparedBlobs { get; init; }

    /// <summary>True when nothing is damaged (orphans, partials and strays are not damage).</summary>
    public bool IsHealthy => !Findings.Any(f => f.IsDamage);
}
