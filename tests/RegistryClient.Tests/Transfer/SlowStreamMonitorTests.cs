using RegistryClient.Tests.Infrastructure;
using RegistryClient.Transfer;

namespace RegistryClient.Tests.Transfer;

/// <summary>The relative trickle rule on a manual clock: transfers, bytes and ticks are scripted.</summary>
public sealed class SlowStreamMonitorTests
{
    [Fact]
    public void StreamBelowATenthOfTheOthersMedian_IsCutOnceOldEnough()
    {
        var time = new ManualTime();
        var monitor = new SlowStreamMonitor(time);
        using var slowCut = new CancellationTokenSource();
        using var fastCut = new CancellationTokenSource();
        using SlowStreamMonitor.Watch slow = monitor.Start(slowCut, mayCut: true);
        using SlowStreamMonitor.Watch fast1 = monitor.Start(fastCut, mayCut: true);
        using SlowStreamMonitor.Watch fast2 = monitor.Start(fastCut, mayCut: true);

        for (int second = 1; second <= 4; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            slow.Add(50_000);
            fast1.Add(1_000_000);
            fast2.Add(1_200_000);
            monitor.Judge();
            bool oldEnough = TimeSpan.FromSeconds(second) >= SlowStreamMonitor.Window;
            Assert.Equal(oldEnough, slowCut.IsCancellationRequested);
        }

        Assert.Contains("other transfers", slow.CutReason, StringComparison.Ordinal);
        Assert.False(fastCut.IsCancellationRequested);
        Assert.Null(fast1.CutReason);
    }

    [Fact]
    public void StreamAtAFifthOfTheOthers_OrNotAllowedToBeCut_OrWithOneOther_IsLeftAlone()
    {
        var time = new ManualTime();
        var monitor = new SlowStreamMonitor(time);
        using var cut = new CancellationTokenSource();
        using SlowStreamMonitor.Watch fifth = monitor.Start(cut, mayCut: true);
        using SlowStreamMonitor.Watch spent = monitor.Start(cut, mayCut: false);
        using SlowStreamMonitor.Watch fast = monitor.Start(cut, mayCut: true);
        using SlowStreamMonitor.Watch fast2 = monitor.Start(cut, mayCut: true);
        for (int second = 1; second <= 6; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            fifth.Add(200_000);
            spent.Add(1_000); // far below, but out of cuts
            fast.Add(1_000_000);
            fast2.Add(1_000_000);
            monitor.Judge();
        }

        Assert.False(cut.IsCancellationRequested);

        var alone = new SlowStreamMonitor(time);
        using var aloneCut = new CancellationTokenSource();
        using SlowStreamMonitor.Watch slow = alone.Start(aloneCut, mayCut: true);
        using SlowStreamMonitor.Watch other = alone.Start(aloneCut, mayCut: true);
        for (int second = 1; second <= 6; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            slow.Add(1_000);
            other.Add(10_000_000);
            alone.Judge();
        }

        Assert.False(aloneCut.IsCancellationRequested); // one other transfer is no median
    }

    [Fact]
    public void TransfersThatFinishedRecently_CountAsTheOthers()
    {
        var time = new ManualTime();
        var monitor = new SlowStreamMonitor(time);
        using var cut = new CancellationTokenSource();
        using SlowStreamMonitor.Watch slow = monitor.Start(cut, mayCut: true);
        for (int second = 1; second <= 4; second++)
        {
            // Short fast transfers come and go within each second (small chunks on a fast link).
            for (int i = 0; i < 2; i++)
            {
                using SlowStreamMonitor.Watch brief = monitor.Start(cut, mayCut: true);
                time.Advance(TimeSpan.FromMilliseconds(100));
                brief.Add(4 << 20);
            }

            time.Advance(TimeSpan.FromMilliseconds(800));
            slow.Add(20_000);
            monitor.Judge();
        }

        Assert.True(cut.IsCancellationRequested);
        Assert.NotNull(slow.CutReason);
    }
}
