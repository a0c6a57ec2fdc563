namespace RegistryClient.Maintenance;

/// <summary>What a <see cref="ModelMirror"/> mirrors, and what it does when a model fails.</summary>
public sealed record MirrorOptions
{
    /// <summary>Mirror every tag of each named repository (from the registry's tags list). Default false.</summary>
    public bool AllTags { get; init; }

    /// <summary>
    /// When a model fails, mirror the others and report the failures in <see cref="MirrorResult.Failures"/> instead of
    /// throwing. Default false.
    /// </summary>
    public bool KeepGoing { get; init; }

    /// <summary>A local store (Ollama store or OCI layout) to read the models from instead of a registry; null (default) means none.</summary>
    public string? FromStore { get; init; }
}
