namespace RegistryClient.Remote;

/// <summary>A failed attempt that will be tried again: why, when, and how many attempts in a row failed without progress.</summary>
/// <param name="Reason">What went wrong, in a few words ("connection reset", "503 Service Unavailable", "no bytes for 30 s").</param>
/// <param name="Delay">How long until the next attempt.</param>
/// <param name="Attempt">
/// The number of the next attempt since the last one that made progress: 1 when the failed attempt itself brought new
/// bytes (a reconnect that does not count against the budget), 2 for the first retry after an attempt without progress.
/// </param>
public readonly record struct RetryNotice(string Reason, TimeSpan Delay, int Attempt);
