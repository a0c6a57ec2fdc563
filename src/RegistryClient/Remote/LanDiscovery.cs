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

    /// <summary>Peers taken from one discovery at most.</summary>
    public const int MaxPeers = 16;

    /// <summary>The largest packet read (a link's MTU); larger ones are dropped unparsed.</summary>
    private const int MaxPacket = 1500;
    private static readonly IPAddress s_group = IPAddress.Parse("224.0.0.251");

    /// <summary>
    /// Asks the network for announcing <c>regc serve</c>s and collects answers for <paramref name="wait"/>; returns their
    /// base addresses (<c>http://address:port/</c>), each once.
    /// </summary>
    public static async Task<IReadOnlyList<Uri>> DiscoverAsync(TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var found = new List<Uri>();
        var seen = new HashSet<Uri>();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0)); // answers to a query from another port come back by unicast (RFC 6762 §6.7)
        var query = new Message { Id = (ushort)Random.Shared.Next(1, ushort.MaxValue) };
        query.Questions.Add(new Question { Name = ServiceType, Type = DnsType.PTR });
        byte[] packet = query.ToByteArray();
        foreach (int index in MulticastInterfaces())
        {
            try
            {
                socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, IPAddress.HostToNetworkOrder(index));
                await socket.SendToAsync(packet, SocketFlags.None, new IPEndPoint(s_group, MdnsPort), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                // An interface that cannot send (down, no route): the others still ask.
            }
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

            // Only an answer to this query (its id), from a responder's port, from this network: anything else is
            // dropped unread, so a host elsewhere cannot point the pull at addresses of its choosing.
            if (received.RemoteEndPoint is IPEndPoint { Port: MdnsPort } from && received.ReceivedBytes <= MaxPacket && IsOnLink(from.Address)
                && TryReadAnswer(buffer.AsSpan(0, received.ReceivedBytes), query.Id, out int port, out string scheme))
            {
                var peer = new Uri($"{scheme}://{from.Address}:{port}/");
                if (seen.Add(peer))
                {
                    found.Add(peer);
                    if (found.Count >= MaxPeers)
                    {
                        return found;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Starts answering queries for <see cref="ServiceType"/> with <paramref name="port"/> (a <c>regc serve</c> listening
    /// there); dispose to stop.
    /// </summary>
    /// <exception cref="SocketException">Port 5353 cannot be bound (another responder that does not share it), or no interface does multicast.</exception>
    public static IDisposable Announce(int port, bool https = false, ILogger? logger = null)
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
        string host = $"regc-{Random.Shared.Next():x8}.local"; // not the host's name: the answer says no more than it must
        _ = Task.Run(() => AnswerAsync(socket, port, https, instance, host, logger ?? NullLogger.Instance, stop.Token));
        return new Announcement(socket, stop);
    }

    private static async Task AnswerAsync(Socket socket, int port, bool https, string instance, string host, ILogger logger, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[9000];
        while (!cancellationToken.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                LogAnswerFailed(logger, "(receive)", e.Message); // a refused earlier answer, and the like: go on listening
                continue;
            }

            if (received.RemoteEndPoint is not IPEndPoint asker || received.ReceivedBytes > MaxPacket || !IsOnLink(asker.Address))
            {
                continue; // only this network's hosts are answered (RFC 6762 §11), so the answer cannot be reflected elsewhere
            }

            Message? query = TryRead(buffer.AsSpan(0, received.ReceivedBytes));
            if (query is null || query.QR || !query.Questions.Any(q => q.Name == ServiceType && q.Type is DnsType.PTR or DnsType.ANY))
            {
                continue;
            }

            var answer = new Message { Id = query.Id, QR = true, AA = true };
            answer.Answers.Add(new PTRRecord { Name = ServiceType, DomainName = instance, TTL = TimeSpan.FromMinutes(2) });
            answer.AdditionalRecords.Add(new SRVRecord { Name = instance, Port = (ushort)port, Target = host, TTL = TimeSpan.FromMinutes(2) });
            answer.AdditionalRecords.Add(new TXTRecord { Name = instance, Strings = { "path=/v2/", https ? "scheme=https" : "scheme=http" }, TTL = TimeSpan.FromMinutes(2) });
            IPEndPoint to = asker;
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
    private static bool TryReadAnswer(ReadOnlySpan<byte> packet, ushort id, out int port, out string scheme)
    {
        port = 0;
        scheme = "http";
        Message? message = TryRead(packet);
        if (message is null || !message.QR || message.Id != id)
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
        if (message.Answers.Concat(message.AdditionalRecords).OfType<TXTRecord>().Any(t => t.Name == service.Name && t.Strings.Contains("scheme=https")))
        {
            scheme = "https";
        }

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

    /// <summary>
    /// True for this host (a loopback address, or 0.0.0.0: a local sender whose multicast left without a source
    /// address) or an address inside the subnet of one of this host's IPv4 interfaces.
    /// </summary>
    private static bool IsOnLink(IPAddress address)
    {
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any))
        {
            return true;
        }

        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }

        uint target = ToUInt(address);
        foreach (UnicastIPAddressInformation local in NetworkInterface.GetAllNetworkInterfaces().SelectMany(n => n.GetIPProperties().UnicastAddresses))
        {
            if (local.Address.AddressFamily == AddressFamily.InterNetwork && local.PrefixLength is > 0 and <= 32)
            {
                uint mask = uint.MaxValue << (32 - local.PrefixLength);
                if ((ToUInt(local.Address) & mask) == (target & mask))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static uint ToUInt(IPAddress address)
    {
        byte[] bytes = address.GetAddressBytes();
        return ((uint)bytes[0] << 24) | ((uint)bytes[1] << 16) | ((uint)bytes[2] << 8) | bytes[3];
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
