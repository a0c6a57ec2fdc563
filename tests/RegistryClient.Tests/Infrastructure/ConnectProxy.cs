using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// An HTTP CONNECT proxy on a free loopback port: it tunnels bytes to the asked host and port and records each
/// request line it got. Anything but CONNECT gets 501. Stopped on dispose.
/// </summary>
public sealed class ConnectProxy : IAsyncDisposable
{
    private readonly LoopbackListener _listener;

    public ConnectProxy()
    {
        _listener = new LoopbackListener(TunnelAsync);
    }

    public Uri Address => new($"http://{_listener.HostAndPort}/");

    /// <summary>Every request line and header block received, in order (what the proxy could see in clear).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    private async Task TunnelAsync(TcpClient client, CancellationToken stop)
    {
        using (client)
        {
            try
            {
                NetworkStream stream = client.GetStream();
                string head = await ReadHeadAsync(stream);
                Requests.Enqueue(head);
                string[] requestLine = head.Split("\r\n")[0].Split(' ');
                if (requestLine.Length < 2 || requestLine[0] != "CONNECT")
                {
                    await stream.WriteAsync("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n"u8.ToArray());
                    return;
                }

                int colon = requestLine[1].LastIndexOf(':');
                using var upstream = new TcpClient();
                await upstream.ConnectAsync(requestLine[1][..colon], int.Parse(requestLine[1][(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture), stop);
                await stream.WriteAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray());
                NetworkStream target = upstream.GetStream();
                await Task.WhenAny(stream.CopyToAsync(target, stop), target.CopyToAsync(stream, stop));
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A closed tunnel ends the copy either way.
            }
        }
    }

    private static async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        byte[] one = new byte[1];
        while (head.Count < 16 << 10 && await stream.ReadAsync(one) == 1)
        {
            head.Add(one[0]);
            if (head.Count >= 4 && head[^1] == '\n' && head[^2] == '\r' && head[^3] == '\n' && head[^4] == '\r')
            {
                break;
            }
        }

        return Encoding.ASCII.GetString([.. head]);
    }

    public ValueTask DisposeAsync() => _listener.DisposeAsync();
}
