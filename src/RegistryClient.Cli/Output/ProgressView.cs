using System.Globalization;
using RegistryClient.Transfer;
using Spectre.Console;

namespace RegistryClient.Cli.Output;

/// <summary>
/// Shows a running transfer: Spectre.Console bars with speed and ETA on a terminal, a plain line per active blob
/// every few seconds otherwise, or Ollama-style JSON lines with <c>--json</c>. Status messages
/// ("pulling manifest", "writing manifest") go through <see cref="Status"/>.
/// </summary>
internal sealed class ProgressView : IProgress<string>
{
    private static readonly TimeSpan s_plainInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan s_plainTick = TimeSpan.FromMilliseconds(250); // state changes and retries show this soon
    private static readonly TimeSpan s_jsonInterval = TimeSpan.FromMilliseconds(250);

    private readonly OutputMode _mode;
    private readonly TextWriter _out;
    private readonly Lock _lock = new();
    private readonly Dictionary<RegistryClient.Content.Digest, (long Completed, TransferState State, long Ticks)> _shown = [];
    private readonly Dictionary<RegistryClient.Content.Digest, int> _retriesShown = []; // plain: episodes; JSON: retries

    public ProgressView(OutputMode mode, TextWriter output)
    {
        _mode = mode;
        _out = output;
        Tracker = new ProgressTracker(this);
    }

    /// <summary>What a blob's line says is happening to it: "pulling" (default) or "pushing".</summary>
    public string Verb { get; init; } = "pulling";

    /// <summary>The progress to hand to a pull: blob reports are added up for the display, status reports shown as lines.</summary>
    public ProgressTracker Tracker { get; }

    public void Report(string value)
    {
        lock (_lock)
        {
            switch (_mode)
            {
                case OutputMode.Json:
                    WriteJson(new Dictionary<string, object> { ["status"] = value });
                    break;
                case OutputMode.Plain:
                    _out.WriteLine(value);
                    break;
                default:
                    AnsiConsole.MarkupLine($"[grey]{Markup.Escape(value)}[/]");
                    break;
            }
        }
    }

    /// <summary>Shows progress until <paramref name="work"/> ends, then returns its result.</summary>
    public async Task<T> RunAsync<T>(Task<T> work)
    {
        switch (_mode)
        {
            case OutputMode.Terminal:
                await RunTerminalAsync(work).ConfigureAwait(false);
                break;
            case OutputMode.Plain:
                await RunLoopAsync(work, s_plainTick, WritePlain).ConfigureAwait(false);
                break;
            default:
                await RunLoopAsync(work, s_jsonInterval, WriteJsonProgress).ConfigureAwait(false);
                break;
        }

        return await work.ConfigureAwait(false);
    }

    public void WriteJson(Dictionary<string, object> value)
    {
        lock (_lock)
        {
            _out.WriteLine(JsonText.Serialize(value));
            _out.Flush();
        }
    }

    private async Task RunTerminalAsync(Task work)
    {
        await AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(
                new TaskDescriptionColumn { Alignment = Justify.Left },
                new ProgressBarColumn(),
                new PercentageColumn(),
                new DownloadedColumn(),
                new TransferSpeedColumn(),
                new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var tasks = new Dictionary<RegistryClient.Content.Digest, ProgressTask>();
                void Update()
                {
                    foreach (ProgressTracker.BlobProgress blob in Tracker.Snapshot())
                    {
                        if (!tasks.TryGetValue(blob.Digest, out ProgressTask? task))
                        {
                            string label = blob.State == TransferState.Cached ? $"{blob.Digest.Short} (present)" : $"{Verb} {blob.Digest.Short}";
                            task = context.AddTask(label, autoStart: true, maxValue: Math.Max(blob.Total, 1));
                            tasks.Add(blob.Digest, task);
                        }

                        if (blob.State is not TransferState.Cached)
                        {
                            string resumed = blob.Reused > 0 ? $" ({Units.Bytes(blob.Reused)} resumed)" : string.Empty;
                            long now = Environment.TickCount64;
                            string retry = blob.Retry is { } r && blob.State == TransferState.Running && r.IsCurrent(now)
                                ? $": [yellow]{Markup.Escape(r.Describe(blob.Total, now))}[/]"
                                : string.Empty;
                            task.Description = $"{Verb} {blob.Digest.Short}{resumed}{retry}";
                        }

                        task.Value = blob.Total == 0 && blob.State is TransferState.Completed or TransferState.Cached ? 1 : blob.Completed;
                        if (blob.State is TransferState.Completed or TransferState.Cached)
                        {
                            task.Value = task.MaxValue;
                            task.StopTask();
                        }
                    }
                }

                while (!work.IsCompleted)
                {
                    Update();
                    await Task.WhenAny(work, Task.Delay(100)).ConfigureAwait(false);
                }

                Update();
            }).ConfigureAwait(false);
    }

    private static async Task RunLoopAsync(Task work, TimeSpan interval, Action<bool> write)
    {
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, Task.Delay(interval)).ConfigureAwait(false);
            write(work.IsCompleted);
        }
    }

    private void WritePlain(bool final)
    {
        long now = Environment.TickCount64;
        lock (_lock)
        {
            foreach (ProgressTracker.BlobProgress blob in Tracker.Snapshot())
            {
                long completed = blob.Completed;
                TransferState state = blob.State;
                if (blob.Retry is { } retry && retry.Episode > _retriesShown.GetValueOrDefault(blob.Digest))
                {
                    // One line per episode of retries, not per attempt.
                    _retriesShown[blob.Digest] = retry.Episode;
                    _out.WriteLine($"{Verb} {blob.Digest.Short}: {retry.Describe(blob.Total, retry.Ticks)}; bytes received are kept, further retries of this episode are not shown");
                }

                _shown.TryGetValue(blob.Digest, out var last);
                bool due = last.Ticks == 0 || now - last.Ticks >= s_plainInterval.TotalMilliseconds;
                if (last.Ticks != 0 && (last.State == state && (last.Completed == completed || !due)))
                {
                    continue; // nothing new, or a running blob shown less than an interval ago
                }

                string line = state switch
                {
                    TransferState.Cached => $"{blob.Digest.Short}: already present ({Units.Bytes(blob.Total)})",
                    TransferState.Completed => $"{blob.Digest.Short}: verified and stored ({Units.Bytes(blob.Total)})",
                    TransferState.Failed => $"{blob.Digest.Short}: failed at {Units.Bytes(completed)} of {Units.Bytes(blob.Total)}",
                    _ when final => string.Empty,
                    _ => FormatRunning(blob, completed, last.Ticks == 0 ? 0 : (completed - last.Completed) * 1000.0 / Math.Max(1, now - last.Ticks)),
                };
                if (line.Length > 0)
                {
                    _out.WriteLine(line);
                }

                _shown[blob.Digest] = (completed, state, now);
            }

            _out.Flush();
        }
    }

    private string FormatRunning(ProgressTracker.BlobProgress blob, long completed, double rate)
    {
        double percent = blob.Total == 0 ? 100 : completed * 100.0 / blob.Total;
        string eta = rate > 0 ? " ETA " + Units.Duration(TimeSpan.FromSeconds((blob.Total - completed) / rate)) : string.Empty;
        string resumed = blob.Reused > 0 ? $" ({Units.Bytes(blob.Reused)} resumed)" : string.Empty;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{Verb} {blob.Digest.Short}: {percent,3:0}% {Units.Bytes(completed)}/{Units.Bytes(blob.Total)} {(rate > 0 ? Units.Rate(rate) : string.Empty)}{eta}{resumed}");
    }

    private void WriteJsonProgress(bool final)
    {
        foreach (ProgressTracker.BlobProgress blob in Tracker.Snapshot())
        {
            long completed = blob.Completed;
            TransferState state = blob.State;
            if (blob.Retry is { } retry && retry.Count > _retriesShown.GetValueOrDefault(blob.Digest))
            {
                _retriesShown[blob.Digest] = retry.Count;
                WriteJson(new Dictionary<string, object>
                {
                    ["status"] = "retrying",
                    ["digest"] = blob.Digest.ToString(),
                    ["reason"] = retry.Notice.Reason,
                    ["retry_in_seconds"] = Math.Round(retry.Notice.Delay.TotalSeconds, 1),
                    ["attempt"] = retry.Notice.Attempt,
                    ["retries"] = retry.Count,
                    ["total"] = blob.Total,
                    ["completed"] = retry.CompletedThen,
                });
            }

            _shown.TryGetValue(blob.Digest, out var last);
            if (last.Ticks != 0 && last.Completed == completed && last.State == state)
            {
                continue;
            }

            _shown[blob.Digest] = (completed, state, 1);
            WriteJson(new Dictionary<string, object>
            {
                ["status"] = $"{Verb} {blob.Digest.Short}",
                ["digest"] = blob.Digest.ToString(),
                ["total"] = blob.Total,
                ["completed"] = completed,
                ["reused"] = blob.Reused,
            });
        }
    }
}
