using RegistryClient.Transfer;

namespace RegistryClient.Maintenance;

/// <summary>What a mirror did: models, blobs fetched and reused, and the models that failed.</summary>
public sealed class MirrorResult
{
    private readonly TimeProvider _time;
    private readonly long _started;

    internal MirrorResult(TimeProvider time)
    {
        _time = time;
        _started = time.GetTimestamp();
    }

    /// <summary>Models mirrored.</summary>
    public int Models { get; private set; }

    /// <summary>Blobs fetched (or copied) and verified now.</summary>
    public int BlobsFetched { get; private set; }

    /// <summary>Blobs that were in the target already.</summary>
    public int BlobsPresent { get; private set; }

    /// <summary>Bytes fetched (or copied) now.</summary>
    public long BytesFetched { get; private set; }

    /// <summary>Bytes not fetched: present already, or taken from an interrupted earlier run.</summary>
    public long BytesReused { get; private set; }

    /// <summary>Each model (or repository, for a tag list) that failed, with the reason; empty unless failures were kept going past.</summary>
    public IList<MirrorFailure> Failures { get; } = [];

    /// <summary>Things worth saying that did not fail the mirror (a shared pull that failed and was redone model by model).</summary>
    public IList<string> Warnings { get; } = [];

    /// <summary>Wall time of the whole mirror.</summary>
    public TimeSpan Elapsed { get; private set; }

    internal void Add(PullResult result)
    {
        Models += result.Models.Count;
        BlobsFetched += result.BlobsFetched;
        BlobsPresent += result.BlobsCached;
        BytesFetched += result.BytesFetched;
        BytesReused += result.BytesCached + result.BytesResumed;
    }

    internal MirrorResult Finish()
    {
        Elapsed = _time.GetElapsedTime(_started);
        return this;
    }
}

/// <summary>A model (or repository) a mirror could not mirror.</summary>
/// <param name="Name">The model's name, or the repository's whose tags could not be listed.</param>
/// <param name="Reason">Why, in one line.</param>
public sealed record MirrorFailure(string Name, string Reason);
