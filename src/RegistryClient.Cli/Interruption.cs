using System.Runtime.InteropServices;

namespace RegistryClient.Cli;

/// <summary>
/// Turns SIGINT (Ctrl-C) and SIGTERM into a cancellation the running command observes, and the process's exit code
/// into 128 + the first signal's number (130 or 143). A second signal, however soon it follows, is absorbed: the
/// command is already stopping and keeps its resumable state. A third ends the process at once with the same code
/// (for a stop that hangs; the store's state is safe at any instant). Registered once, for the life of the process.
/// </summary>
#pragma warning disable CA1001 // Lives as long as the process: a signal may come at any moment until exit, so nothing is ever disposed.
internal sealed class Interruption
#pragma warning restore CA1001
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _signal;
    private int _count;

    public Interruption()
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (PosixSignal signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try
            {
                registrations.Add(PosixSignalRegistration.Create(signal, Handle));
            }
            catch (PlatformNotSupportedException)
            {
                // This platform does not deliver that signal to .NET: the default handling stays.
            }
        }

        _registrations = [.. registrations];
    }

    /// <summary>The signal that ends the process without waiting for the command to stop.</summary>
    private const int ForceAfter = 3;

    /// <summary>Cancelled by the first signal.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>128 + the number of the first signal received (130 for SIGINT, 143 for SIGTERM); null when none came.</summary>
    public int? ExitCode => Volatile.Read(ref _signal) is int signal and > 0 ? 128 + signal : null;

    /// <summary>True once a signal came.</summary>
    public bool Signalled => Volatile.Read(ref _signal) > 0;

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true; // the command stops itself and the process exits through Main
        int number = context.Signal == PosixSignal.SIGTERM ? 15 : 2;
        if (Interlocked.Increment(ref _count) >= ForceAfter)
        {
            int code = 128 + Volatile.Read(ref _signal);
            _ = Task.Run(() => Environment.Exit(code));
            return;
        }

        if (Interlocked.CompareExchange(ref _signal, number, 0) == 0)
        {
            // Cancellation callbacks run on the pool, never on the signal thread, and none of their failures escapes.
            _ = Task.Run(() =>
            {
                try
                {
                    _cancel.Cancel();
                }
                catch (AggregateException)
                {
                    // A callback failed while the command was stopping; the command reports its own outcome.
                }
            });
        }
    }

    /// <summary>Keeps the registrations alive for the life of the process.</summary>
    public void KeepAlive() => GC.KeepAlive(_registrations);
}
