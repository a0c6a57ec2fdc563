using RegistryClient.Content;

namespace RegistryClient.Maintenance;

/// <summary>What <see cref="StoreVerifier"/> found wrong, or worth knowing, about one item of a store.</summary>
public enum FindingKind
{
    /// <summary>A blob whose bytes do not hash to its name.</summary>
    Corrupt,

    /// <summary>A blob whose size differs from what a manifest says.</summary>
    WrongSize,

    /// <summary>A blob a manifest names that is not in <c>blobs/</c>.</summary>
    Missing,

    /// <summary>A manifest file that cannot be read or parsed.</summary>
    BadManifest,

    /// <summary>A complete, correct blob no manifest names (<c>regc prune</c> removes it).</summary>
    Orphaned,

    /// <summary>A partial download (this project's or Ollama's), resumable by a pull.</summary>
    Partial,

    /// <summary>A file in <c>blobs/</c> whose name is not a blob name.</summary>
    Stray,
}

/// <summary>One finding of a verify run.</summary>
/// <param name="Kind">What was found.</param>
/// <param name="Digest">The blob's digest; null for a bad manifest or a stray file.</param>
/// <param name="Path">The file concerned (for a missing blob, where it should be).</param>
/// <param name="Size">The file's size in bytes (for a missing blob, the size its manifest gives).</param>
/// <param name="Models">The models (display names) whose manifests name the blob, sorted.</param>
/// <param name="Detail">One line for people: expected and found values, what to do.</param>
public sealed record VerifyFinding(FindingKind Kind, Digest? Digest, string Path, long Size, IReadOnlyList<string> Models, string Detail)
{
    /// <summary>The chunks whose digests failed, where the store holds the blob's chunk digests; else empty.</summary>
    public IReadOnlyList<Chunk> BadChunks { get; init; } = [];

    /// <summary>True for damage (corrupt, wrong size, missing, bad manifest); orphans, partials and strays are not.</summary>
    public bool IsDamage => Kind is FindingKind.Corrupt or FindingKind.WrongSize or FindingKind.Missing or FindingKind.BadManifest;
}
