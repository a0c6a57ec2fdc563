using System.Net.Sockets;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Hostile;

/// <summary>
/// A raw TCP listener on loopback for answers Kestrel will not send (no status line, endless headers): it reads
/// each request's head and then writes whatever the script gives, and closes.
/// </summary>
public sealed class RawServer : IAsyncDisposable
{
    private readonly LoopbackListener _listener;

    public RawServer(Func<NetworkStream, CancellationToken, Task> answer)
    {
        _listener = new LoopbackListener(async (client, stop) =>
        {
            using (client)
            {
                try
                {
                    NetworkStream stream = client.GetStream();
                    await ReadHeadAsync(stream, stop);
                    await answer(stream, stop);
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // The client gave up, as it should.
                }
            }
        });
    }

    public string HostAndPort => _listener.HostAndPort;

    public int Connections => _listener.Connections;

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

    public ValueTask DisposeAsync() => _listener.DisposeAsync();
}
