using System.Diagnostics;

namespace RegistryClient.Hashing;

/// <summary>
/// Hashes the bytes of many concurrent SHA-256 messages (the chunks of a pull, one per download worker) on one
/// thread of its own, eight at a time in the lanes of <see cref="Avx2Sha256Kernel"/>. A message's bytes join a free lane as
/// they are submitted; a lane is handed back once they are absorbed, and the next waiting bytes take it. With eight
/// streams at once, one core hashes them about five times as fast as OpenSSL hashes one stream (no SHA extensions).
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe. <see cref="LaneHash.AppendAsync"/> completes once its bytes are absorbed; until then the caller must
/// leave them unchanged. The engine thread stops on <see cref="Dispose"/> after the work already submitted.
/// </para>
/// <para>
/// A batch short of the streams the caller runs waits up to <see cref="Linger"/> for more, even when no other message
/// is live, as long as more messages are still to come (<see cref="Expect"/>). That holds back streams that run ahead:
/// in a pull, a chunk fetched faster than the blob's hash reads it only sits in the hash window, and keeps the next
/// chunks from starting. Held back, the window's chunks stream together and share the lanes, so more lanes are busy
/// per batch and the pull takes less CPU. Once no more are to come (a blob's last chunks), a batch waits
/// only for the live messages: waiting for streams that will never start throttled the last chunks to a few lanes
/// per 5 ms while the blob's hash waited for them.
/// </para>
/// </remarks>
internal sealed class LaneHashEngine : IDisposable
{
    /// <summary>How long a new batch waits for more messages' bytes (a full batch of 1 MiB buffers takes about 3 ms).</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(5);

    private readonly object _gate = new();
    private readonly Queue<Job> _waiting = new();
    private readonly Job?[] _lanes = new Job?[Avx2Sha256Kernel.Lanes];
    private readonly int _streams; // how many messages a batch waits for, at most the lanes
    private long _underfullSince; // engine thread: when the lanes were last found short of the messages a batch waits for, or 0
    private int _live; // messages created and not yet disposed: the most that can fill lanes
    private int _expected; // messages announced (Expect) and not yet created; may go below zero (retries), read as zero
    private bool _stopping;
    private Exception? _fault;

    /// <summary>Starts the engine's thread.</summary>
    /// <param name="streams">
    /// How many messages the caller means to hash at once (a pull's concurrency); while more are announced
    /// (<see cref="Expect"/>), a batch waits briefly for that many (at most eight) before it runs with fewer. Default 1:
    /// a batch waits only for messages already live.
    /// </param>
    /// <exception cref="PlatformNotSupportedException">The CPU lacks AVX2 (<see cref="Avx2Sha256Kernel.IsSupported"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="streams"/> is less than 1.</exception>
    public LaneHashEngine(int streams = 1)
    {
        if (!Avx2Sha256Kernel.IsSupported)
        {
            throw new PlatformNotSupportedException("the eight-lane SHA-256 needs AVX2");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(streams, 1);
        _streams = Math.Min(streams, Avx2Sha256Kernel.Lanes);

        new Thread(Run) { IsBackground = true, Name = "regc sha256 lanes" }.Start();
    }

    /// <summary>A new message hashed in this engine's lanes; it counts against the messages announced by <see cref="Expect"/>.</summary>
    public LaneHash CreateHash()
    {
        Interlocked.Decrement(ref _expected);
        Interlocked.Increment(ref _live);
        return new LaneHash(this);
    }

    /// <summary>
    /// Announces <paramref name="messages"/> more messages to come (a blob's chunks to fetch), or, negative, takes back
    /// announced ones that will not come. While none are announced, a batch waits only for the live messages.
    /// </summary>
    public void Expect(int messages)
    {
        Interlocked.Add(ref _expected, messages);
        lock (_gate)
        {
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>
    /// How many busy lanes a batch waits for (up to <see cref="Linger"/>): every live message, and the caller's
    /// <paramref name="streams"/> while enough messages are still to come; never more than the lanes.
    /// </summary>
    internal static int BatchTarget(int live, int coming, int streams) =>
        Math.Min(Math.Max(live, Math.Min(streams, live + Math.Max(coming, 0))), Avx2Sha256Kernel.Lanes);

    /// <summary>A message is done: a batch no longer waits for it.</summary>
    internal void Release()
    {
        Interlocked.Decrement(ref _live);
        lock (_gate)
        {
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Queues whole blocks of <paramref name="message"/>; the task completes when they are absorbed into its state.</summary>
    internal Task SubmitAsync(LaneHash message, ReadOnlyMemory<byte> blocks)
    {
        var job = new Job(message, blocks);
        lock (_gate)
        {
            if (_fault is not null)
            {
                throw new InvalidOperationException("the SHA-256 lane engine failed", _fault);
            }

            ObjectDisposedException.ThrowIf(_stopping, this);
            _waiting.Enqueue(job);
            Monitor.Pulse(_gate);
        }

        return job.Done.Task;
    }

    private void Run()
    {
        var state = new uint[Avx2Sha256Kernel.Lanes * Avx2Sha256Kernel.StateWords];
        var input = new ReadOnlyMemory<byte>[Avx2Sha256Kernel.Lanes];
        try
        {
            while (Admit(state))
            {
                Step(state, input);
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>
    /// Moves waiting work into free lanes; waits while there is none at all. While fewer lanes are busy than the
    /// <see cref="BatchTarget"/>, waits up to <see cref="Linger"/> for the others' bytes: the rounds cost about the same
    /// for one busy lane as for eight, so on a busy machine a lane run alone costs the CPU up to eight times its share.
    /// False once stopping and idle.
    /// </summary>
    private bool Admit(uint[] state)
    {
        lock (_gate)
        {
            while (true)
            {
                int busy = 0;
                for (int lane = 0; lane < _lanes.Length; lane++)
                {
                    if (_lanes[lane] is null && _waiting.TryDequeue(out Job? waiting))
                    {
                        _lanes[lane] = waiting;
                        waiting.Message.LoadInto(state, lane);
                    }

                    busy += _lanes[lane] is null ? 0 : 1;
                }

                if (busy == 0)
                {
                    if (_stopping)
                    {
                        return false;
                    }

                    Monitor.Wait(_gate);
                    continue;
                }

                if (busy >= BatchTarget(Volatile.Read(ref _live), Volatile.Read(ref _expected), _streams) || _stopping)
                {
                    return true;
                }

                _underfullSince = _underfullSince == 0 ? Stopwatch.GetTimestamp() : _underfullSince;
                TimeSpan waited = Stopwatch.GetElapsedTime(_underfullSince);
                if (waited >= Linger)
                {
                    return true;
                }

                Monitor.Wait(_gate, Linger - waited);
            }
        }
    }

    /// <summary>Runs the busy lanes until the first of them is done; hands finished messages back.</summary>
    private void Step(uint[] state, ReadOnlyMemory<byte>[] input)
    {
        int blocks = int.MaxValue;
        ReadOnlyMemory<byte> any = default;
        foreach (Job? job in _lanes)
        {
            if (job is null)
            {
                continue;
            }

            blocks = Math.Min(blocks, job.Remaining.Length / Avx2Sha256Kernel.BlockSize);
            any = job.Remaining;
        }

        for (int lane = 0; lane < _lanes.Length; lane++)
        {
            input[lane] = _lanes[lane]?.Remaining ?? any; // a free lane repeats a busy one's bytes; its result is dropped
        }

        Avx2Sha256Kernel.Compress(state, input, blocks);
        _underfullSince = 0;
        for (int lane = 0; lane < _lanes.Length; lane++)
        {
            if (_lanes[lane] is not { } job)
            {
                continue;
            }

            job.Remaining = job.Remaining[(blocks * Avx2Sha256Kernel.BlockSize)..];
            if (job.Remaining.IsEmpty)
            {
                job.Message.StoreFrom(state, lane);
                _lanes[lane] = null;
                job.Done.TrySetResult();
            }
        }
    }

    private void Fail(Exception e)
    {
        lock (_gate)
        {
            _fault = e;
            foreach (Job? job in _lanes)
            {
                job?.Done.TrySetException(e);
            }

            while (_waiting.TryDequeue(out Job? job))
            {
                job.Done.TrySetException(e);
            }
        }
    }

    /// <summary>Stops the engine's thread once the work already submitted is done; later submissions throw.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
    }

    private sealed class Job(LaneHash message, ReadOnlyMemory<byte> blocks)
    {
        public LaneHash Message { get; } = message;

        public ReadOnlyMemory<byte> Remaining { get; set; } = blocks;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
