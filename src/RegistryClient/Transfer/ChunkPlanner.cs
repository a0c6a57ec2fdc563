using RegistryClient.Content;

namespace RegistryClient.Transfer;

/// <summary>Splits a blob into the ranges the workers fetch.</summary>
internal static class ChunkPlanner
{
    /// <summary>
    /// One range for blobs up to <paramref name="threshold"/>; ranges of <paramref name="rangeSize"/> (the last
    /// one shorter) above it. An empty blob has no ranges.
    /// </summary>
    public static Chunk[] Plan(long size, long rangeSize, long threshold)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfLessThan(rangeSize, 1);
        if (size == 0)
        {
            return [];
        }

        if (size <= threshold)
        {
            return [new Chunk(0, size - 1)];
        }

        long count = ((size - 1) / rangeSize) + 1;
        var chunks = new Chunk[count];
        for (long i = 0; i < count; i++)
        {
            long start = i * rangeSize;
            chunks[i] = new Chunk(start, Math.Min(start + rangeSize, size) - 1);
        }

        return chunks;
    }

    /// <summary>The SHA-256 of own ranges in canonical form (<c>start-end\n</c> each): what a resume marker of them is bound to.</summary>
    public static Digest ListDigest(Chunk[] chunks)
    {
        var text = new System.Text.StringBuilder();
        foreach (Chunk chunk in chunks)
        {
            text.Append(chunk.ToString()).Append('\n');
        }

        return Digest.Compute(System.Text.Encoding.ASCII.GetBytes(text.ToString()));
    }
}
