using System.Diagnostics;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Hostile;

/// <summary>
/// Local faults (read-only store, full disk, a store path that is a file, a wrong blob in the store), Ctrl-C, and
/// the time to a clear error against a registry that always fails, with regc's default retry settings.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class LocalFaultTests(HostileFixture fixture) : IClassFixture<HostileFixture>, IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Name => $"http://{fixture.Registry.HostAndPort}/{HostileFixture.Repository}:latest";

    private static async Task RootAsync(params string[] command)
    {
        using Process process = Process.Start(new ProcessStartInfo(command[0], command[1..]) { RedirectStandardError = true })!;
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', command)} failed (these tests need root, as CI runs them): {error}");
    }

    private static void AssertOneLineError(int exit, string stderr, string contains)
    {
        Assert.NotEqual(0, exit);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr);
        Assert.Contains(contains, lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadOnlyStore_FailsBeforeAnyBlobIsAskedFor()
    {
        var store = new ModelStore(_temp.Combine("store"));
        store.EnsureWritable();
        fixture.Registry.Reset();
        await RootAsync("chattr", "-R", "+i", store.Root); // immutable: not even root may write (modes do not stop root)
        try
        {
            (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", Name, "--models", store.Root);
            AssertOneLineError(exit, stderr, store.Root);
            Assert.Equal(0, fixture.Registry.Count("blob"));
        }
        finally
        {
            await RootAsync("chattr", "-R", "-i", store.Root);
        }
    }

    [Fact]
    public async Task FullDisk_FailsBeforeFetchingAndNamesTheStore()
    {
        string mount = _temp.Combine("small");
        Directory.CreateDirectory(mount);
        await RootAsync("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", mount);
        try
        {
            fixture.Registry.Reset();
            (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", Name, "--models", mount);
            AssertOneLineError(exit, stderr, "not enough space in " + mount);
            Assert.Equal(0, fixture.Registry.Count("blob"));
            StoreAuditor.AssertConsistent(new ModelStore(mount));
        }
        finally
        {
            await RootAsync("umount", mount);
        }
    }

    [Fact]
    public async Task StorePathIsAFile_IsAClearError()
    {
        string file = _temp.Combine("not-a-folder");
        await File.WriteAllTextAsync(file, "x", TestContext.Current.CancellationToken);
        (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", Name, "--models", file);
        AssertOneLineError(exit, stderr, file);
        Assert.Equal("x", await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task BlobOfTheWrongSizeInTheStore_IsFetchedAgainAndReplaced()
    {
        var store = new ModelStore(_temp.Combine("store"));
        store.EnsureWritable();
        Directory.CreateDirectory(store.BlobsDirectory);
        await File.WriteAllBytesAsync(store.GetBlobPath(fixture.Big.Digest), new byte[1000], TestContext.Current.CancellationToken);

        (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", Name, "--models", store.Root);

        Assert.True(exit == 0, stderr);
        Assert.Equal(fixture.Big.Size, store.GetBlobSize(fixture.Big.Digest));
        StoreAuditor.AssertConsistent(store);
    }

    [Fact]
    public async Task CtrlC_StopsWithin2Seconds_Exits130_AndKeepsThePartial()
    {
        var store = new ModelStore(_temp.Combine("store"));
        fixture.Registry.Reset();
        fixture.Registry.Fault = async (c, r) =>
        {
            if (!fixture.IsBig(r) || r.Number <= 4)
            {
                return false; // four chunks land, the rest hang
            }

            await fixture.HangAfterHeadersAsync(c, r);
            return true;
        };
        try
        {
            using RegcRun run = RegcProcess.Start(null, "pull", Name, "--models", store.Root);
            var waited = Stopwatch.StartNew();
            while (fixture.Registry.Count("blob") < 8 && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }

            await Task.Delay(500, TestContext.Current.CancellationToken); // let the landed chunks be marked
            var stopping = Stopwatch.StartNew();
            await RootAsync("kill", "-INT", run.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            (int exit, _, string stderr) = await run.WaitAsync();
            stopping.Stop();

            Assert.True(exit == 130, $"exit {exit}: {stderr}");
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(2), $"took {stopping.Elapsed.TotalSeconds:0.00} s to stop");
            Assert.Contains("interrupted", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
            StoreAuditor.AssertNoManifests(store);
            StoreAuditor.AssertConsistent(store);
            Assert.Contains(store.GetPartialFiles(fixture.Big.Digest), f => f.EndsWith(".partial", StringComparison.Ordinal));
        }
        finally
        {
            fixture.Registry.Fault = null;
        }

        // The next pull resumes: the chunks that landed are not fetched again.
        fixture.Registry.Reset();
        (int again, string stdout, string error) = await RegcProcess.RunAsync("pull", Name, "--models", store.Root);
        Assert.True(again == 0, error);
        Assert.Contains("resumed from an earlier pull", stdout, StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(store);
    }

    [Fact]
    public async Task MaxConnections_BlobsComeOverAtMostThatManyConnections()
    {
        var store = new ModelStore(_temp.Combine("store"));
        fixture.Registry.Reset();

        (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", Name, "--models", store.Root, "--max-connections", "2", "--concurrency", "8");

        Assert.True(exit == 0, stderr);
        Assert.True(fixture.Registry.Count("blob") > 2);
        Assert.InRange(fixture.Registry.BlobConnections.Count, 1, 2);
        StoreAuditor.AssertConsistent(store);
    }

    [Fact]
    public async Task LimitRate_KeepsAllStreamsTogetherUnderTheRate()
    {
        var store = new ModelStore(_temp.Combine("store"));
        byte[] smallModel = RegistryClient.Cli.Samples.SampleModel.BuildManifest(fixture.Manifest.Config, [fixture.Small]);
        fixture.Registry.Fault = async (c, r) =>
        {
            if (r.Kind != "manifest")
            {
                return false;
            }

            await HostileFixture.ManifestAsync(c, smallModel); // the config and the 200 KB layer only
            return true;
        };
        try
        {
            // 200 000 bytes at 50 KiB/s take about 3.5 s after a 50 KiB burst; unlimited, milliseconds.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", Name, "--models", store.Root, "--limit-rate", "50k");
            clock.Stop();

            Assert.True(exit == 0, stderr);
            Assert.Equal(fixture.Small.Size, store.GetBlobSize(fixture.Small.Digest));
            Assert.True(clock.Elapsed > TimeSpan.FromSeconds(2.5), $"{clock.Elapsed.TotalSeconds:0.0} s: faster than the limit allows");
            StoreAuditor.AssertConsistent(store);
        }
        finally
        {
            fixture.Registry.Fault = null;
        }
    }

    [Fact]
    public async Task AlwaysFailingRegistry_WithDefaultSettings_EndsInAClearErrorWithin2Minutes()
    {
        var store = new ModelStore(_temp.Combine("store"));
        fixture.Registry.Fault = async (c, r) =>
        {
            await HostileFixture.AnswerAsync(c, 503);
            return true;
        };
        try
        {
            var clock = Stopwatch.StartNew();
            (int exit, _, string stderr) = await RegcProcess.RunAsync("pull", Name, "--models", store.Root);
            clock.Stop();

            AssertOneLineError(exit, stderr, "503");
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"took {clock.Elapsed.TotalSeconds:0} s");
            Assert.True(clock.Elapsed > TimeSpan.FromSeconds(5), "the default retries should back off for a while first");
            StoreAuditor.AssertNoManifests(store);
        }
        finally
        {
            fixture.Registry.Fault = null;
        }
    }
}
