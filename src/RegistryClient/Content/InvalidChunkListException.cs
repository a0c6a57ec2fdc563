namespace RegistryClient.Content;

/// <summary>A chunk list breaks a rule (a gap, an overlap, a range past the blob, a bad digest, a list cut short).</summary>
public sealed class InvalidChunkListException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public InvalidChunkListException()
        : base("the chunk list is invalid")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public InvalidChunkListException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public InvalidChunkListException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a rule broken at a line of the list.</summary>
    /// <param name="blob">The blob the list describes.</param>
    /// <param name="line">The line (1-based; 0 for the list as a whole).</param>
    /// <param name="problem">Which rule, in words.</param>
    public InvalidChunkListException(Digest blob, int line, string problem)
        : base($"the chunk list of {blob.Short} is invalid at line {line}: {problem}")
    {
        Line = line;
        Problem = problem;
    }

    /// <summary>The line that breaks the rule (1-based; 0 for the list as a whole).</summary>
    public int Line { get; }

    /// <summary>The rule broken, in words ("a gap: bytes 100-199 are not covered").</summary>
    public string? Problem { get; }
}
