using System.Net;
using System.Net.Sockets;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// A TCP proxy on loopback in front of a real server that spoils every connection the same way, as a bad proxy, an
/// SSH tunnel or a flaky link does: after a fixed number of bytes towards the client it resets the connection
/// (<see cref="LinkFault.Reset"/>) or stops forwarding and holds it open (<see cref="LinkFault.Stall"/>). It counts
/// the connections, so tests can show how many reconnects a transfer took.
/// </summary>
public sealed class FlakyLink : IAsyncDisposable
{
    private readonly LoopbackListener _listener;
    private readonly IPEndPoint _upstream;
    private readonly LinkFault _fault;
    private readonly long _budget;
    private long _forwarded;
    private int _alternate;

    public FlakyLink(string upstreamHostAndPort, LinkFault fault, long bytesPerConnection)
    {
        _upstream = IPEndPoint.Parse(upstreamHostAndPort);
        _fault = fault;
        _budget = bytesPerConnection;
        _listener = new LoopbackListener(RelayAsync);
    }

    public string HostAndPort => _listener.HostAndPort;

    /// <summary>Connections accepted so far.</summary>
    public int Connections => _listener.Connections;

    /// <summary>Bytes passed on towards clients so far.</summary>
    public long BytesForwarded => Interlocked.Read(ref _forwarded);

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
                // Alternating: every odd connection delivers its bytes and is reset, every even one stalls at once.
                bool stalls = _fault == LinkFault.Stall || (_fault == LinkFault.Alternate && Interlocked.Increment(ref _alternate) % 2 == 0);
                Task requests = CopyAsync(down, up, long.MaxValue, count: false, done.Token);
                Task responses = CopyAsync(up, down, stalls && _fault == LinkFault.Alternate ? 0 : _budget, count: true, done.Token);
                await Task.WhenAny(requests, responses);
                if (responses.IsCompletedSuccessfully && stalls)
                {
                    await requests; // hold the connection, silent, until the client gives up on it
                }

                if (!stalls)
                {
                    client.Client.LingerState = new LingerOption(true, 0); // close with RST, as a dropped link looks
                }
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

    private async Task CopyAsync(Stream from, Stream to, long budget, bool count, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[64 << 10];
        long left = budget;
        while (left > 0)
        {
            int read = await from.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken);
            if (read == 0)
            {
                throw new IOException("closed"); // one side closed: end the relay
            }

            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            left -= read;
            if (count)
            {
                Interlocked.Add(ref _forwarded, read);
            }
        }
    }

    public ValueTask DisposeAsync() => _listener.DisposeAsync();
}

/// <summary>What a <see cref="FlakyLink"/> does to a connection once its bytes are spent.</summary>
public enum LinkFault
{
    /// <summary>Resets it (RST), as a dropped link or a proxy that cuts long transfers.</summary>
    Reset,

    /// <summary>Stops forwarding and keeps it open, as a stalled tunnel.</summary>
    Stall,

    /// <summary>Odd connections reset after their bytes, even ones stall at once: progress and stalls in turn.</summary>
    Alternate,
}
