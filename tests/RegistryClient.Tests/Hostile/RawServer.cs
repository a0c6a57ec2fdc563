using System.Net;
using System.Net.Sockets;

namespace RegistryClient.Tests.Hostile;

/// <summary>
/// A raw TCP listener on loopback for answers Kestrel will not send (no status line, endless headers): it reads
/// each request's head and then writes whatever the script gives, and closes.
/// </summary>
public sealed class RawServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public RawServer(Func<NetworkStream, CancellationToken, Task> answer)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _loop = Task.Run(() => AcceptAsync(answer));
    }

    public string HostAndPort => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public int Connections { get; private set; }

    private async Task AcceptAsync(Func<NetworkStream, CancellationToken, Task> answer)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Connections++;
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        NetworkStream stream = client.GetStream();
                        await ReadHeadAsync(stream, _stop.Token);
                        await answer(stream, _stop.Token);
                    }
                    catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                    {
                        // The client gave up, as it should.
                    }
                }
            });
        }
    }

    private static async Task ReadHeadAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        byte[] one = new byte[1];
        int matched = 0;
        byte[] end = "\r\n\r\n"u8.ToArray();
        while (matched < end.Length && await stream.ReadAsync(one, cancellationToken) == 1)
        {
            matched = one[0] == end[matched] ? matched + 1 : one[0] == end[0] ? 1 : 0;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}
