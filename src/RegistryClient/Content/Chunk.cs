namespace RegistryClient.Content;

/// <summary>A byte range of a blob with inclusive ends, as in <c>Range: bytes=Start-End</c>.</summary>
/// <param name="Start">Offset of the first byte.</param>
/// <param name="End">Offset of the last byte (inclusive).</param>
public readonly record struct Chunk(long Start, long End)
{
    /// <summary>The number of bytes in the range.</summary>
    public long Length => End - Start + 1;

    /// <summary>The range in HTTP form, <c>Start-End</c>.</summary>
    public override string ToString() => $"{Start}-{End}";
}
