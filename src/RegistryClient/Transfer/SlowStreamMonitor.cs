using RegistryClient.Content;

namespace RegistryClient.Transfer;

/// <summary>
/// Watches the range transfers of a pull and cuts one that runs far slower than the others (below a tenth of
/// the median rate of the other transfers, as Ollama's puller does), so that its retry reconnects, often over a
/// better path or to a better server, and continues from the byte where the slow one stopped. A transfer is
/// judged on its rate over the last <see cref="Window"/>, once it is that old; the others are the transfers
/// running for at least a second and those that finished within the last two windows (with fast links and
/// small chunks most transfers are short). At least two others are needed. Thread-safe; its timer runs only
/// while transfers are watched.
/// </summary>
internal sealed class SlowStreamMonitor
{
    /// <summary>The span over which rates are measured, and the age a transfer needs before it is judged.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(3);

    /// <summary>A transfer slower than the others' median divided by this is cut.</summary>
    public const int SlowFactor = 10;

    /// <summary>A finished transfer shorter than this says more about latency than rate and is not counted.</summary>
    private const long MinFinishedBytes = 256 << 10;

    private const int MaxFinished = 32;

    private static readonly TimeSpan s_tick = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<Watch> _watches = [];
    private readonly Queue<(long Stamp, double Rate)> _finished = new();
    private ITimer? _timer;

    public SlowStreamMonitor(TimeProvider time) => _time = time;

    /// <summary>
    /// Watches a transfer. When it is judged too slow, <paramref name="cut"/> is cancelled and
    /// <see cref="Watch.CutReason"/> says why. With <paramref name="mayCut"/> false the transfer only counts
    /// towards the others' median.
    /// </summary>
    public Watch Start(CancellationTokenSource cut, bool mayCut)
    {
        var watch = new Watch(this, cut, mayCut, _time.GetTimestamp());
        lock (_gate)
        {
            _watches.Add(watch);
            _timer ??= _time.CreateTimer(_ => Judge(), null, s_tick, s_tick);
        }

        return watch;
    }

    private void Stop(Watch watch)
    {
        long now = _time.GetTimestamp();
        lock (_gate)
        {
            _watches.Remove(watch);
            double seconds = _time.GetElapsedTime(watch.Started, now).TotalSeconds;
            if (watch.Bytes >= MinFinishedBytes && seconds > 0 && watch.CutReason is null)
            {
                _finished.Enqueue((now, watch.Bytes / seconds));
                if (_finished.Count > MaxFinished)
                {
                    _finished.Dequeue();
                }
            }

            if (_watches.Count == 0)
            {
                _timer?.Dispose();
                _timer = null;
            }
        }
    }

    /// <summary>Rates every watched transfer and cuts the slow ones; the timer calls it every second.</summary>
    internal void Judge()
    {
        long now = _time.GetTimestamp();
        List<(Watch Watch, double Rate, bool Judged)> running = [];
        double[] finished;
        lock (_gate)
        {
            while (_finished.TryPeek(out var oldest) && _time.GetElapsedTime(oldest.Stamp, now) > 2 * Window)
            {
                _finished.Dequeue();
            }

            finished = _finished.Select(f => f.Rate).ToArray();
            foreach (Watch watch in _watches)
            {
                if (watch.Sample(now, _time) is { } rate)
                {
                    running.Add((watch, rate, _time.GetElapsedTime(watch.Started, now) >= Window));
                }
            }
        }

        foreach ((Watch watch, double rate, bool judged) in running)
        {
            if (!judged || !watch.MayCut)
            {
                continue;
            }

            double[] others = running.Where(r => r.Watch != watch).Select(r => r.Rate).Concat(finished).ToArray();
            if (others.Length < 2)
            {
                continue;
            }

            double median = Median(others);
            if (rate * SlowFactor < median)
            {
                watch.CutSlow($"{ByteSize.Format((long)rate)}/s while {others.Length} other transfers ran at a median {ByteSize.Format((long)median)}/s");
            }
        }
    }

    private static double Median(double[] rates)
    {
        Array.Sort(rates);
        int middle = rates.Length / 2;
        return rates.Length % 2 == 1 ? rates[middle] : (rates[middle - 1] + rates[middle]) / 2;
    }

    /// <summary>One watched transfer: count its bytes with <see cref="Add"/>, dispose it when the transfer ends.</summary>
    public sealed class Watch : IDisposable
    {
        private readonly SlowStreamMonitor _monitor;
        private readonly CancellationTokenSource _cut;
        private readonly Queue<(long Stamp, long Bytes)> _history = new(); // touched under the monitor's lock
        private long _bytes;
        private volatile string? _cutReason;

        internal Watch(SlowStreamMonitor monitor, CancellationTokenSource cut, bool mayCut, long started)
        {
            _monitor = monitor;
            _cut = cut;
            MayCut = mayCut;
            Started = started;
            _history.Enqueue((started, 0));
        }

        public bool MayCut { get; }

        internal long Started { get; }

        internal long Bytes => Interlocked.Read(ref _bytes);

        /// <summary>Why the transfer was cut as too slow; null when it was not.</summary>
        public string? CutReason => _cutReason;

        /// <summary>Counts bytes received.</summary>
        public void Add(int bytes) => Interlocked.Add(ref _bytes, bytes);

        /// <summary>Records this tick's count; returns the rate over the last window, or null before a second has passed.</summary>
        internal double? Sample(long now, TimeProvider time)
        {
            long bytes = Bytes;
            _history.Enqueue((now, bytes));
            while (time.GetElapsedTime(_history.Peek().Stamp, now) > Window + (s_tick / 2))
            {
                _history.Dequeue();
            }

            (long stamp, long then) = _history.Peek();
            double seconds = time.GetElapsedTime(stamp, now).TotalSeconds;
            return seconds < s_tick.TotalSeconds / 2 ? null : (bytes - then) / seconds;
        }

        internal void CutSlow(string reason)
        {
            if (_cutReason is not null)
            {
                return;
            }

            _cutReason = reason;
            try
            {
                _cut.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The transfer ended meanwhile.
            }
        }

        public void Dispose() => _monitor.Stop(this);
    }
}
