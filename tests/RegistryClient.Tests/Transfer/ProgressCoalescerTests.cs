using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>A pull's progress reaches the caller per blob in order, its running counts at most ten times a second.</summary>
public sealed class ProgressCoalescerTests
{
    private static readonly Digest s_blob = Digest.Compute("blob"u8);
    private static readonly Digest s_other = Digest.Compute("other"u8);

    private static PullProgress Running(Digest blob, long completed) => new(blob, completed, 1000, TransferState.Running);

    [Fact]
    public void RunningReports_AreThinnedToOneAnIntervalPerBlob_StateChangesRetriesAndStatusesPassAtOnce()
    {
        var time = new ManualTime();
        var seen = new List<PullProgress>();
        var coalescer = new ProgressCoalescer(new Collect(seen), time);

        coalescer.Report(new PullProgress(s_blob, 0, 1000, TransferState.Started));
        for (int i = 1; i <= 50; i++)
        {
            coalescer.Report(Running(s_blob, i * 10)); // 50 reports within 50 ms
            coalescer.Report(Running(s_other, i * 10));
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        coalescer.Report(Running(s_blob, 600) with { Retry = new RetryNotice("connection reset", TimeSpan.Zero, 1) });
        coalescer.Report(PullProgress.ForStatus(ModelName.Parse("m"), "writing manifest"));
        time.Advance(ProgressCoalescer.Interval);
        coalescer.Report(Running(s_blob, 700));
        coalescer.Report(new PullProgress(s_blob, 1000, 1000, TransferState.Completed));
        coalescer.Report(Running(s_blob, 990)); // late, from another worker: a blob's state only moves forward

        PullProgress[] blob = seen.Where(p => p.Digest == s_blob).ToArray();
        Assert.Equal([TransferState.Started, TransferState.Running, TransferState.Running, TransferState.Running, TransferState.Completed], blob.Select(p => p.State));
        Assert.Equal([0L, 10, 600, 700, 1000], blob.Select(p => p.Completed));
        Assert.NotNull(blob[2].Retry);
        Assert.Single(seen, p => p.Digest == s_other); // its first running report; the rest came within the interval
        Assert.Single(seen, p => p.IsStatus);
    }

    [Fact]
    public void CompletedCounts_NeverGoBackForABlob()
    {
        var time = new ManualTime();
        var seen = new List<PullProgress>();
        var coalescer = new ProgressCoalescer(new Collect(seen), time);

        coalescer.Report(Running(s_blob, 500));
        time.Advance(TimeSpan.FromSeconds(1));
        coalescer.Report(Running(s_blob, 300) with { Retry = new RetryNotice("stalled", TimeSpan.FromSeconds(1), 2) }); // a chunk thrown away

        Assert.Equal([500L, 500], seen.Select(p => p.Completed));
    }

    [Fact]
    public void RunningReports_AllocateNothing()
    {
        // Workers report every receive buffer (1 MiB): a report, passed on or thinned out, must not allocate.
        var time = new ManualTime();
        var count = new Count();
        var coalescer = new ProgressCoalescer(count, time);
        coalescer.Report(new PullProgress(s_blob, 0, 1 << 30, TransferState.Started));
        coalescer.Report(Running(s_blob, 1)); // the blob's entry exists from here on

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            coalescer.Report(Running(s_blob, i));
            time.Advance(TimeSpan.FromMilliseconds(10));
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.InRange(count.Reports, 1000, 1100); // one in ten passed on
    }

    private sealed class Count : IProgress<PullProgress>
    {
        public int Reports { get; private set; }

        public void Report(PullProgress value) => Reports++;
    }

    private sealed class Collect(List<PullProgress> into) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => into.Add(value);
    }
}
