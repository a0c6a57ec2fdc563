using System.Net;
using System.Net.Sockets;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// A TCP relay on loopback in front of a real server that counts the bytes each way, so a test can tell how much a
/// client sent (an upload) from the server's side of the wire. Optionally it resets the first connection that has
/// carried <c>cutAfter</c> bytes towards the server, as a link dropped in the middle of a request body, and limits
/// what goes towards clients to <c>bytesPerSecond</c> over all connections together (a slow origin).
/// </summary>
public sealed class CountingLink : IAsyncDisposable
{
    private readonly LoopbackListener _listener;
    private readonly IPEndPoint _upstream;
    private long _sent;
    private long _received;
    private long _cutAfter;

    private readonly double _bytesPerSecond;
    private readonly Lock _pace = new();
    private long _nextFree = System.Diagnostics.Stopwatch.GetTimestamp();

    public CountingLink(string upstreamHostAndPort, long cutAfter = 0, double bytesPerSecond = 0)
    {
        _upstream = IPEndPoint.Parse(upstreamHostAndPort);
        _cutAfter = cutAfter;
        _bytesPerSecond = bytesPerSecond;
        _listener = new LoopbackListener(RelayAsync);
    }

    public string HostAndPort => _listener.HostAndPort;

    /// <summary>Bytes passed on towards the server (requests and their bodies).</summary>
    public long BytesToServer => Interlocked.Read(ref _sent);

    /// <summary>Bytes passed on towards clients.</summary>
    public long BytesToClients => Interlocked.Read(ref _received);

    /// <summary>True once the one cut asked for has happened.</summary>
    public bool Cut => _cutAfter == 0 && _cutDone;

    private volatile bool _cutDone;

    private async Task RelayAsync(TcpClient client, CancellationToken stop)
    {
        using var upstream = new TcpClient();
        using (client)
        using (var done = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            try
            {
                await upstream.ConnectAsync(_upstream, done.Token);
                NetworkStream down = client.GetStream();
                NetworkStream up = upstream.GetStream();
                Task requests = CopyAsync(down, up, toServer: true, done.Token);
                Task responses = CopyAsync(up, down, toServer: false, done.Token);
                await Task.WhenAny(requests, responses);
            }
            catch (CutException)
            {
                client.Client.LingerState = new LingerOption(true, 0);
                upstream.Client.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // Either side went away.
            }
            finally
            {
                await done.CancelAsync();
            }
        }
    }

    private async Task CopyAsync(Stream from, Stream to, bool toServer, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[64 << 10];
        long carried = 0;
        while (true)
        {
            int read = await from.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                throw new IOException("closed");
            }

            long cut = Interlocked.Read(ref _cutAfter);
            if (toServer && cut > 0 && carried + read >= cut && Interlocked.CompareExchange(ref _cutAfter, 0, cut) == cut)
            {
                int part = (int)(cut - carried);
                await to.WriteAsync(buffer.AsMemory(0, part), cancellationToken);
                Interlocked.Add(ref _sent, part);
                _cutDone = true;
                throw new CutException();
            }

            if (!toServer && _bytesPerSecond > 0)
            {
                await PaceAsync(read, cancellationToken);
            }

            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            carried += read;
            Interlocked.Add(ref toServer ? ref _sent : ref _received, read);
        }
    }

    /// <summary>Waits until <paramref name="bytes"/> more fit the rate, counted over every connection.</summary>
    private Task PaceAsync(int bytes, CancellationToken cancellationToken)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long due;
        lock (_pace)
        {
            due = Math.Max(now, _nextFree) + (long)(bytes / _bytesPerSecond * System.Diagnostics.Stopwatch.Frequency);
            _nextFree = due;
        }

        TimeSpan wait = System.Diagnostics.Stopwatch.GetElapsedTime(now, due);
        return wait > TimeSpan.Zero ? Task.Delay(wait, cancellationToken) : Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => _listener.DisposeAsync();

    private sealed class CutException : Exception
    {
    }
}
