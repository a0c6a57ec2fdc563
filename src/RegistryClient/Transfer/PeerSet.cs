using System.Collections.Concurrent;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Remote;

namespace RegistryClient.Transfer;

/// <summary>
/// The peers of one pull (<see cref="PullOptions.Peers"/>) and what was learnt about them: how fast each serves, and
/// which were dropped. A chunk goes to a peer with a free slot (each gets every peer's first chunk, then picked at
/// random weighted by measured speed, the origin among them once it has a speed of its own), else to the origin. A
/// peer that serves a chunk with the wrong digest is dropped for the rest of the pull at once; one that fails twice
/// (refused, slow, cut off) likewise. Peers are only used for blobs whose chunk digests came from the origin.
/// </summary>
/// <remarks>Thread-safe. Owns the peers' connections (<see cref="PeerConnections"/>), which carry no credentials.</remarks>
internal sealed class PeerSet : IDisposable
{
    /// <summary>Requests at once to one peer (and, while peers have room, to the origin).</summary>
    public const int MaxInFlight = 4;

    /// <summary>Failures other than a wrong digest after which a peer is dropped.</summary>
    public const int MaxFailures = 2;

    private readonly PeerConnections _connections;
    private readonly Lock _lock = new();
    private readonly List<Peer> _peers;
    private readonly ConcurrentQueue<string> _warnings = new();
    private readonly Action<string>? _warn;
    private double _originRate;
    private int _originInFlight;

    public PeerSet(IEnumerable<Uri> peers, PeerConnections connections, Action<string>? warn)
    {
        _connections = connections;
        _peers = peers.Distinct().Select(u => new Peer(u)).ToList();
        _warn = warn;
    }

    /// <summary>A peer of the pull and what is known of it.</summary>
    internal sealed class Peer(Uri address)
    {
        public Uri Address { get; } = address;

        public int InFlight { get; set; }

        public double Rate { get; set; }

        public int Failures { get; set; }

        public bool Dropped { get; set; }
    }

    /// <summary>What was said about peers during the pull (dropped ones, and why).</summary>
    public IReadOnlyList<string> Warnings => [.. _warnings];

    /// <summary>Bytes each source delivered in verified chunks: the peers' addresses, and "origin".</summary>
    public ConcurrentDictionary<string, long> Delivered { get; } = new(StringComparer.Ordinal);

    /// <summary>The source of a blob's bytes at <paramref name="peer"/>.</summary>
    public PeerBlobSource SourceFor(Peer peer, ModelName repository, Descriptor blob) => _connections.Source(peer.Address, repository, blob);

    /// <summary>The peer to fetch the next chunk from, its slot taken; null for the origin (whose slot is taken too).</summary>
    public Peer? Take()
    {
        lock (_lock)
        {
            List<Peer> free = _peers.Where(p => !p.Dropped && p.InFlight < MaxInFlight).ToList();
            Peer? chosen = free.FirstOrDefault(p => p.Rate == 0 && p.InFlight == 0); // each peer's first chunk measures it
            if (chosen is null && free.Count > 0)
            {
                double slowest = free.Where(p => p.Rate > 0).Select(p => p.Rate).DefaultIfEmpty(1).Min();
                double origin = _originInFlight < MaxInFlight ? (_originRate > 0 ? _originRate : slowest / 8) : 0;
                double pick = Random.Shared.NextDouble() * (free.Sum(p => Math.Max(p.Rate, 1)) + origin);
                foreach (Peer peer in free)
                {
                    pick -= Math.Max(peer.Rate, 1);
                    if (pick < 0)
                    {
                        chosen = peer;
                        break;
                    }
                }
            }

            if (chosen is null)
            {
                _originInFlight++;
                return null;
            }

            chosen.InFlight++;
            return chosen;
        }
    }

    /// <summary>A chunk of <paramref name="bytes"/> arrived whole and verified from <paramref name="peer"/> (null: the origin) in <paramref name="took"/>.</summary>
    public void Done(Peer? peer, long bytes, TimeSpan took)
    {
        double rate = bytes / Math.Max(took.TotalSeconds, 1e-3);
        Delivered.AddOrUpdate(peer?.Address.ToString() ?? "origin", bytes, (_, sum) => sum + bytes);
        lock (_lock)
        {
            if (peer is null)
            {
                _originInFlight--;
                _originRate = _originRate == 0 ? rate : (0.7 * _originRate) + (0.3 * rate);
                return;
            }

            peer.InFlight--;
            peer.Rate = peer.Rate == 0 ? rate : (0.7 * peer.Rate) + (0.3 * rate);
        }
    }

    /// <summary>Gives back <paramref name="peer"/>'s slot without judging it (the pull was cancelled).</summary>
    public void Release(Peer peer)
    {
        lock (_lock)
        {
            peer.InFlight--;
        }
    }

    /// <summary>The origin's attempt at a chunk ended without a verified chunk (it is retried by the caller's rules).</summary>
    public void OriginFailed()
    {
        lock (_lock)
        {
            _originInFlight--;
        }
    }

    /// <summary>
    /// <paramref name="peer"/> did not deliver the chunk: <paramref name="corrupt"/> when its bytes had the wrong
    /// digest (dropped at once), else refused, slow or cut off (dropped after <see cref="MaxFailures"/>).
    /// </summary>
    public void Failed(Peer peer, string reason, bool corrupt)
    {
        string? warning = null;
        lock (_lock)
        {
            peer.InFlight--;
            peer.Failures++;
            if (!peer.Dropped && (corrupt || peer.Failures >= MaxFailures))
            {
                peer.Dropped = true;
                warning = corrupt
                    ? $"peer {peer.Address} served a chunk that does not match the origin's digest ({reason}); it is not used again in this pull, and the chunk was fetched elsewhere"
                    : $"peer {peer.Address} failed {peer.Failures} times (last: {reason}); it is not used again in this pull";
            }
        }

        if (warning is not null)
        {
            _warnings.Enqueue(warning);
            _warn?.Invoke(warning);
        }
    }

    public void Dispose() => _connections.Dispose();
}
