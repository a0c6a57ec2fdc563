using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Makaretu.Dns;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RegistryClient.Remote;

/// <summary>
/// Finding peers on the local network by multicast DNS service discovery (RFC 6762/6763): a <c>regc serve</c> that
/// announces itself answers queries for <c>_regc._tcp.local</c> with its port; a pull asks once and takes every answer
/// as a peer at the answer's source address. Off unless asked for (<c>serve --announce</c>, <c>pull --discover</c>).
/// What an announcement reveals to everyone on the network: that this host serves models over HTTP on that port (and
/// whoever connects can read every model in the store). Peers found this way are as untrusted as any: their chunks
/// are checked against the origin's digests.
/// </summary>
public static partial class LanDiscovery
{
    /// <summary>The service type announced and asked for.</summary>
    public const string ServiceType = "_regc._tcp.local";

    private const int MdnsPort = 5353;
    private static readonly IPAddress s_group = IPAddress.Parse("224.0.0.251");

    /// <summary>
    /// Asks the network for announcing <c>regc serve</c>s and collects answers for <paramref name="wait"/>; returns their
    /// base addresses (<c>http://address:port/</c>), each once.
    /// </summary>
    public static async Task<IReadOnlyList<Uri>> DiscoverAsync(TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var found = new List<Uri>();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0)); // answers to a query from another port come back by unicast (RFC 6762 §6.7)
        var query = new Message { Id = (ushort)Random.Shared.Next(1, ushort.MaxValue) };
        query.Questions.Add(new Question { Name = ServiceType, Type = DnsType.PTR });
        byte[] packet = query.ToByteArray();
        foreach (int index in MulticastInterfaces())
        {
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, IPAddress.HostToNetworkOrder(index));
            await socket.SendToAsync(packet, SocketFlags.None, new IPEndPoint(s_group, MdnsPort), cancellationToken).ConfigureAwait(false);
        }

        using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        window.CancelAfter(wait);
        byte[] buffer = new byte[9000];
        while (true)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), window.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return found;
            }

            if (received.RemoteEndPoint is IPEndPoint from && TryReadAnswer(buffer.AsSpan(0, received.ReceivedBytes), out int port))
            {
                var peer = new Uri($"http://{from.Address}:{port}/");
                if (!found.Contains(peer))
                {
                    found.Add(peer);
                }
            }
        }
    }

    /// <summary>
    /// Starts answering queries for <see cref="ServiceType"/> with <paramref name="port"/> (a <c>regc serve</c> listening
    /// there); dispose to stop.
    /// </summary>
    /// <exception cref="SocketException">Port 5353 cannot be bound (another responder that does not share it), or no interface does multicast.</exception>
    public static IDisposable Announce(int port, ILogger? logger = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true); // share 5353 with other responders
            socket.Bind(new IPEndPoint(IPAddress.Any, MdnsPort));
            int joined = 0;
            foreach (int index in MulticastInterfaces())
            {
                try
                {
                    socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(s_group, index));
                    joined++;
                }
                catch (SocketException e)
                {
                    LogJoinFailed(logger ?? NullLogger.Instance, index, e.Message); // that interface stays silent; the others answer
                }
            }

            if (joined == 0)
            {
                throw new SocketException((int)SocketError.NetworkUnreachable);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var stop = new CancellationTokenSource();
        string instance = $"regc-{port}-{Random.Shared.Next():x8}.{ServiceType}";
        _ = Task.Run(() => AnswerAsync(socket, port, instance, logger ?? NullLogger.Instance, stop.Token));
        return new Announcement(socket, stop);
    }

    private static async Task AnswerAsync(Socket socket, int port, string instance, ILogger logger, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[9000];
        while (!cancellationToken.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Message? query = TryRead(buffer.AsSpan(0, received.ReceivedBytes));
            if (query is null || query.QR || !query.Questions.Any(q => q.Name == ServiceType && q.Type is DnsType.PTR or DnsType.ANY))
            {
                continue;
            }

            var answer = new Message { Id = query.Id, QR = true, AA = true };
            answer.Answers.Add(new PTRRecord { Name = ServiceType, DomainName = instance, TTL = TimeSpan.FromMinutes(2) });
            answer.AdditionalRecords.Add(new SRVRecord { Name = instance, Port = (ushort)port, Target = Dns.GetHostName() + ".local", TTL = TimeSpan.FromMinutes(2) });
            answer.AdditionalRecords.Add(new TXTRecord { Name = instance, Strings = { "path=/v2/" }, TTL = TimeSpan.FromMinutes(2) });
            var to = (IPEndPoint)received.RemoteEndPoint;
            try
            {
                // A query from port 5353 is answered to the group; one from another port straight back (RFC 6762 §6.7).
                await socket.SendToAsync(answer.ToByteArray(), SocketFlags.None, to.Port == MdnsPort ? new IPEndPoint(s_group, MdnsPort) : to, cancellationToken).ConfigureAwait(false);
                LogAnswered(logger, to.ToString());
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                LogAnswerFailed(logger, to.ToString(), e.Message);
            }
        }
    }

    /// <summary>The port of an answer naming a <see cref="ServiceType"/> instance; false for anything else.</summary>
    private static bool TryReadAnswer(ReadOnlySpan<byte> packet, out int port)
    {
        port = 0;
        Message? message = TryRead(packet);
        if (message is null || !message.QR)
        {
            return false;
        }

        var instances = message.Answers.OfType<PTRRecord>().Where(p => p.Name == ServiceType).Select(p => p.DomainName).ToHashSet();
        SRVRecord? service = message.Answers.Concat(message.AdditionalRecords).OfType<SRVRecord>().FirstOrDefault(s => instances.Contains(s.Name));
        if (service is null || service.Port == 0)
        {
            return false;
        }

        port = service.Port;
        return true;
    }

    private static Message? TryRead(ReadOnlySpan<byte> packet)
    {
        try
        {
            var message = new Message();
            message.Read(packet.ToArray());
            return message;
        }
#pragma warning disable CA1031 // Whatever a packet on the network holds, a bad one is dropped.
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    /// <summary>The indexes of the up IPv4 interfaces that do multicast (loopback too, when it does).</summary>
    private static IEnumerable<int> MulticastInterfaces() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus is OperationalStatus.Up or OperationalStatus.Unknown && n.SupportsMulticast && n.Supports(NetworkInterfaceComponent.IPv4))
            .Select(n => n.GetIPProperties().GetIPv4Properties()?.Index ?? -1)
            .Where(i => i >= 0)
            .Distinct();

    private sealed class Announcement(Socket socket, CancellationTokenSource stop) : IDisposable
    {
        public void Dispose()
        {
            stop.Cancel();
            socket.Dispose();
            stop.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "announced regc serve to {Asker}")]
    private static partial void LogAnswered(ILogger logger, string asker);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot listen for multicast DNS on interface {Index}: {Reason}")]
    private static partial void LogJoinFailed(ILogger logger, int index, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "could not answer {Asker}: {Reason}")]
    private static partial void LogAnswerFailed(ILogger logger, string asker, string reason);
}
