using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;

namespace RegistryClient.Transfer;

/// <summary>
/// One progress report of a pull: a blob's bytes (<see cref="IsStatus"/> false), or a model's phase
/// (<see cref="IsStatus"/> true: <see cref="Status"/> such as "pulling manifest" for <see cref="Model"/>). A pull reports
/// each blob's events in order and its running counts at most about ten times a second.
/// </summary>
/// <param name="Digest">The blob (default for a status report).</param>
/// <param name="Completed">Bytes of the blob on disk so far (reused plus downloaded); never decreases for a blob.</param>
/// <param name="Total">The blob's size.</param>
/// <param name="State">The blob's state.</param>
/// <param name="Reused">Bytes taken from an earlier run (a complete blob or a resumed partial) rather than downloaded now.</param>
/// <param name="Retry">Set when a transfer of the blob failed and will be tried again: why, when, which attempt. Null otherwise.</param>
public readonly record struct PullProgress(Digest Digest, long Completed, long Total, TransferState State, long Reused = 0, RetryNotice? Retry = null)
{
    /// <summary>The model a status report is about; null for blob reports.</summary>
    public ModelName? Model { get; init; }

    /// <summary>
    /// A phase of a model or blob, in words ("pulling manifest", "writing manifest", "another process is downloading this
    /// blob into the store; waiting for it"); null for a report of bytes.
    /// </summary>
    public string? Status { get; init; }

    /// <summary>True for a status report (<see cref="Status"/>), false for a report of a blob's bytes.</summary>
    public bool IsStatus => Status is not null;

    /// <summary>A status report about <paramref name="model"/>.</summary>
    public static PullProgress ForStatus(ModelName model, string status) => new(default, 0, 0, TransferState.Started) { Model = model, Status = status };
}
