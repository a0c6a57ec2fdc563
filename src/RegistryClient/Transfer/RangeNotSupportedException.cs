namespace RegistryClient.Transfer;

/// <summary>
/// The registry answered a ranged request past the blob's start with 200 and the whole blob: it ignores
/// <c>Range</c>. The puller then fetches that blob as one stream from its start.
/// </summary>
internal sealed class RangeNotSupportedException : IOException
{
    public RangeNotSupportedException(string message)
        : base(message)
    {
    }
}
