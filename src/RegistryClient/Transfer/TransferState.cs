namespace RegistryClient.Transfer;

/// <summary>Where one blob of a transfer is.</summary>
public enum TransferState
{
    /// <summary>Known, not started.</summary>
    Started,

    /// <summary>Already complete in the store; nothing fetched.</summary>
    Cached,

    /// <summary>Bytes are arriving.</summary>
    Running,

    /// <summary>Verified and committed into <c>blobs/</c>.</summary>
    Completed,

    /// <summary>Failed; the pull will end in an error.</summary>
    Failed,
}
