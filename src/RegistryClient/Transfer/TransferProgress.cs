using RegistryClient.Content;
using RegistryClient.Remote;

namespace RegistryClient.Transfer;

/// <summary>One progress report for one blob. Reports come from worker threads and may arrive out of order.</summary>
/// <param name="Digest">The blob.</param>
/// <param name="Completed">Bytes of the blob on disk so far (reused plus downloaded); never decreases for a blob.</param>
/// <param name="Total">The blob's size.</param>
/// <param name="State">The blob's state.</param>
/// <param name="Reused">Bytes taken from an earlier run (a complete blob or a resumed partial) rather than downloaded now.</param>
/// <param name="Retry">Set when a transfer of the blob failed and will be tried again: why, when, which attempt. Null otherwise.</param>
public readonly record struct TransferProgress(Digest Digest, long Completed, long Total, TransferState State, long Reused = 0, RetryNotice? Retry = null);
