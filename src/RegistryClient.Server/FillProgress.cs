using RegistryClient.Transfer;

namespace RegistryClient.Server;

/// <summary>
/// What a pull-through fill of one blob has verified so far: the chunks checked against their digests and written to
/// the blob's partial file, so requests can be answered from it while the rest arrives.
/// </summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class FillProgress
{
    private readonly Lock _lock = new();
    private readonly SortedList<long, long> _verified = []; // chunk start -> length
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<Memory<byte>, long, CancellationToken, ValueTask<int>>? _read;
    private bool _ended;

    /// <summary>A chunk was verified.</summary>
    public void Add(VerifiedChunk chunk)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _read ??= chunk.Read;
            _verified[chunk.Start] = chunk.Length;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    /// <summary>The fill ended (the blob is in the store, or the fill failed).</summary>
    public void End()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _ended = true;
            changed = _changed;
        }

        changed.TrySetResult();
    }

    /// <summary>
    /// How many verified bytes follow <paramref name="position"/> without a gap (0 when its chunk is not verified yet),
    /// how to read them from the partial file, whether the fill ended, and a task that completes at the next change.
    /// </summary>
    public (long Available, Func<Memory<byte>, long, CancellationToken, ValueTask<int>>? Read, bool Ended, Task Changed) At(long position)
    {
        lock (_lock)
        {
            long available = 0;
            long next = position;
            int index = LastAtOrBefore(position);
            for (int i = Math.Max(index, 0); index >= 0 && i < _verified.Count; i++)
            {
                long start = _verified.Keys[i];
                long end = start + _verified.Values[i];
                if (start > next || end <= next)
                {
                    break;
                }

                available += end - next;
                next = end;
            }

            return (available, _read, _ended, _changed.Task);
        }
    }

    /// <summary>The index of the last chunk starting at or before <paramref name="position"/>, or -1.</summary>
    private int LastAtOrBefore(long position)
    {
        int low = 0, high = _verified.Count - 1, found = -1;
        while (low <= high)
        {
            int middle = (low + high) / 2;
            if (_verified.Keys[middle] <= position)
            {
                found = middle;
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return found;
    }
}
