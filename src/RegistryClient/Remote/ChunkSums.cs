using RegistryClient.Content;

namespace RegistryClient.Remote;

/// <summary>A registry's chunksums for one blob (PROTOCOL §2): the validated list, and the URL to fetch the blob's bytes from.</summary>
public sealed class ChunkSums
{
    /// <summary>Pairs a validated list with the blob's location.</summary>
    public ChunkSums(Uri location, ChunkList list)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(list);
        Location = location;
        List = list;
    }

    /// <summary>Where to GET the blob's bytes (the resolved <c>Content-Location</c>).</summary>
    public Uri Location { get; }

    /// <summary>The chunks and their digests.</summary>
    public ChunkList List { get; }
}
