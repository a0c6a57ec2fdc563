using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Transfer;

/// <summary>
/// A 1 GiB push killed with SIGKILL at a seeded point, then run again, into a registry that keeps what arrived of an
/// upload (<c>regc serve --allow-push</c>): the second run asks where the upload stands and sends only the remainder.
/// Bytes are counted by the registry.
/// </summary>
public sealed class KilledPushTests(KilledPushTests.BigModel model) : IClassFixture<KilledPushTests.BigModel>
{
    /// <summary>One 1 GiB model for every seed.</summary>
    public sealed class BigModel : IAsyncLifetime
    {
        public const long Size = 1L << 30;

        private readonly TempDirectory _temp = new();

        public ModelStore Store { get; private set; } = null!;

        public byte[] Manifest { get; private set; } = [];

        public static readonly ModelName Name = ModelName.Parse("localhost/library/big:latest");

        public async ValueTask InitializeAsync() => (Store, Manifest) = await TestModels.CreateOciAsync(_temp.Combine("source"), Name, [Size, 5], 99);

        public ValueTask DisposeAsync()
        {
            _temp.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    [InlineData(23)]
    [InlineData(24)]
    [InlineData(25)]
    public async Task KilledPush_RunAgain_SendsOnlyTheRemainder(int seed)
    {
        const long Chunk = 16L << 20; // regc push's default request size
        using var temp = new TempDirectory();
        var served = new ModelStore(temp.Combine("served"));
        await using OwnRegistry server = await OwnRegistry.StartAsync(served, allowPush: true);
        string target = $"{server.HostAndPort}/team/big:latest";
        long total = Manifest.Parse(model.Manifest).Blobs.Sum(b => b.Size);
        long killAt = (long)(BigModel.Size * (0.05 + (0.9 * new Random(seed).NextDouble())));
        string[] push = ["push", BigModel.Name.DisplayName, "--to", target, "--models", model.Store.Root, "--insecure"];

        using (RegcRun run = RegcProcess.Start(null, push))
        {
            while (server.BytesReceived < killAt && !run.Process.HasExited)
            {
                await Task.Delay(1, Token);
            }

            bool killed = !run.Process.HasExited && Signals.Send(run.Process.Id, Signals.Sigkill) == 0;
            (int exit, string output, string errors) = await run.WaitAsync();
            Assert.True(killed && exit == 128 + Signals.Sigkill, $"the push ended (exit {exit}) before {killAt} bytes arrived ({server.BytesReceived}): {output} {errors}");
        }

        long first = await SettledAsync(() => server.BytesReceived);
        (int again, string stdout, string stderr) = await RegcProcess.RunAsync(push);
        Assert.True(again == 0, stderr);
        Assert.Contains("pushed", stdout, StringComparison.Ordinal);

        long second = server.BytesReceived - first;
        string what = $"killed at {killAt} with {first} bytes received; the second run sent {second}";
        Assert.True(first >= killAt, what);
        Assert.True(second <= total - first + Chunk, what); // the bound: the remainder and one chunk
        Assert.Equal(total, first + second); // in fact no byte arrived twice
        StoreAuditor.AssertConsistent(served);
        Assert.Equal(model.Manifest, await File.ReadAllBytesAsync(served.FindManifest(ModelName.Parse($"{ModelName.DefaultHost}/team/big:latest")).Path, Token));
    }

    /// <summary>The value once it stopped changing (a killed client's last bytes may still be on their way in).</summary>
    private static async Task<long> SettledAsync(Func<long> read)
    {
        long value = read();
        while (true)
        {
            await Task.Delay(200, Token);
            long again = read();
            if (again == value)
            {
                return value;
            }

            value = again;
        }
    }
}
