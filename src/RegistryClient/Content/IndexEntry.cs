namespace RegistryClient.Content;

/// <summary>One child of an index: the manifest's descriptor and its platform.</summary>
/// <param name="Descriptor">The child manifest.</param>
/// <param name="Os">The platform's operating system, when given.</param>
/// <param name="Architecture">The platform's architecture, when given.</param>
/// <param name="Variant">The architecture variant, when given.</param>
public sealed record IndexEntry(Descriptor Descriptor, string? Os, string? Architecture, string? Variant)
{
    /// <summary><c>os/arch[/variant]</c>, or <c>unknown</c>.</summary>
    public string Platform => Os is null && Architecture is null
        ? "unknown"
        : $"{Os}/{Architecture}" + (Variant is null ? string.Empty : "/" + Variant);

    /// <summary>True when this entry is for <paramref name="platform"/> (<c>os/arch</c> matches any variant).</summary>
    public bool Matches(string platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        string[] parts = platform.Split('/');
        return parts.Length >= 2
            && string.Equals(parts[0], Os, StringComparison.OrdinalIgnoreCase)
            && string.Equals(parts[1], Architecture, StringComparison.OrdinalIgnoreCase)
            && (parts.Length == 2 || string.Equals(parts[2], Variant, StringComparison.OrdinalIgnoreCase));
    }
}
