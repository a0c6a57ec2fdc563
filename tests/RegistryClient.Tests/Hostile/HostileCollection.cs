namespace RegistryClient.Tests.Hostile;

/// <summary>
/// The hostile suite runs with 1-2 s stall timeouts and a 2 s Ctrl-C bound; on a 2-core machine a 1 GiB pull
/// running beside it can starve those clocks. Its classes therefore run one after another and alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public static class HostileCollection
{
    public const string Name = "hostile (timing-sensitive, not in parallel)";
}
