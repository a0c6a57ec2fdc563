namespace RegistryClient.Cli.Output;

/// <summary>How a command shows progress.</summary>
internal enum OutputMode
{
    /// <summary>Live progress bars (stdout is a terminal).</summary>
    Terminal,

    /// <summary>Plain lines every few seconds (stdout is a file or a pipe).</summary>
    Plain,

    /// <summary>One JSON object per line, like Ollama's pull API stream.</summary>
    Json,
}
