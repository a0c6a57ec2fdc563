using System.Collections.Concurrent;
using RegistryClient.Content;

namespace RegistryClient.Transfer;

/// <summary>
/// What is known of each chunk of one blob: how many of its bytes are in place and usable (taken from an earlier pull,
/// written, or with chunk digests, verified), how many of the current attempt's bytes are in place but not yet verified,
/// which attempt is current (bumped whenever a chunk's bytes are thrown away), where a chunk's bytes came from, and the
/// chunks that became durable and are not yet recorded in the journal. Every change wakes the blob's hasher.
/// </summary>
/// <remarks>Thread-safe: workers write their own chunks' entries, the hasher reads them.</remarks>
internal sealed class ChunkLedger
{
    private readonly Chunk[] _chunks;
    private readonly long[] _usable;
    private readonly long[] _written; // chunk digests: bytes of each chunk's current attempt in place, not yet verified
    private readonly int[] _attempts;
    private readonly bool[] _fromEarlierPull; // hashed from reads, which fail cleanly (a mapping would SIGBUS)
    private readonly bool[] _checkLocally;
    private readonly bool[] _trusted; // taken from the journal unverified in this run: checked as the hasher reads it
    private readonly ConcurrentQueue<int> _durable = new();
    private readonly Action _changed;
    private readonly Action _becameDurable;
    private long _downloaded;
    private long _reused;

    /// <param name="chunks">The blob's chunks, in order.</param>
    /// <param name="changed">Called after every change (wakes the hasher); must be cheap.</param>
    /// <param name="becameDurable">Called when a chunk became durable (wakes the journal's recorder); must be cheap.</param>
    public ChunkLedger(Chunk[] chunks, Action changed, Action becameDurable)
    {
        _becameDurable = becameDurable;
        _chunks = chunks;
        _usable = new long[chunks.Length];
        _written = new long[chunks.Length];
        _attempts = new int[chunks.Length];
        _fromEarlierPull = new bool[chunks.Length];
        _checkLocally = new bool[chunks.Length];
        _trusted = new bool[chunks.Length];
        _changed = changed;
    }

    /// <summary>Bytes downloaded in this run and kept.</summary>
    public long Downloaded => Interlocked.Read(ref _downloaded);

    /// <summary>Bytes reused from an earlier run's partial file.</summary>
    public long Reused => Interlocked.Read(ref _reused);

    /// <summary>Bytes of the whole blob in place and usable.</summary>
    public long UsableBytes
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _usable.Length; i++)
            {
                sum += Volatile.Read(ref _usable[i]);
            }

            return sum;
        }
    }

    /// <summary>How many bytes of chunk <paramref name="index"/> are in place and usable (all of it once complete).</summary>
    public long Usable(int index) => Volatile.Read(ref _usable[index]);

    /// <summary>Chunk digests: bytes of chunk <paramref name="index"/>'s current attempt in place, not yet verified.</summary>
    public long Written(int index) => Volatile.Read(ref _written[index]);

    /// <summary>The current attempt at chunk <paramref name="index"/>; bytes of an earlier one are void.</summary>
    public int Attempt(int index) => Volatile.Read(ref _attempts[index]);

    /// <summary>True when chunk <paramref name="index"/>'s bytes were taken from an earlier pull's partial (read them, never map them).</summary>
    public bool FromEarlierPull(int index) => _fromEarlierPull[index];

    /// <summary>True when chunk <paramref name="index"/> lies in a taken-over partial and is to be checked against its digest before it is fetched.</summary>
    public bool CheckLocally(int index) => _checkLocally[index];

    /// <summary>True while chunk <paramref name="index"/> is taken from the journal without having been checked in this run.</summary>
    public bool Trusted(int index) => _trusted[index];

    /// <summary>
    /// Starts from the journal: each chunk it records as <paramref name="durable"/> and that lies within the
    /// <paramref name="existingLength"/> bytes of the file is taken as it is (with chunk digests, checked when hashed);
    /// with chunk digests, every other chunk within the file is checked locally before it is fetched. Returns the chunks still to do.
    /// </summary>
    public List<int> Resume(bool[]? durable, long existingLength, bool withDigests)
    {
        var todo = new List<int>();
        for (int i = 0; i < _chunks.Length; i++)
        {
            bool inFile = _chunks[i].End < existingLength;
            if (durable is not null && durable[i] && inFile)
            {
                _usable[i] = _chunks[i].Length;
                _reused += _chunks[i].Length;
                _fromEarlierPull[i] = true;
                _trusted[i] = withDigests;
                continue;
            }

            _checkLocally[i] = inFile && withDigests;
            todo.Add(i);
        }

        return todo;
    }

    /// <summary>Chunk <paramref name="index"/> of a taken-over partial matched its digest: taken instead of fetched.</summary>
    public void Reuse(int index)
    {
        Interlocked.Add(ref _reused, _chunks[index].Length);
        _fromEarlierPull[index] = true;
        Publish(index, _chunks[index].Length, durable: true);
    }

    /// <summary>Own ranges: chunk <paramref name="index"/> now has <paramref name="usable"/> bytes in place, <paramref name="added"/> of them just now.</summary>
    public void AddUsable(int index, long usable, int added)
    {
        Interlocked.Add(ref _downloaded, added);
        Publish(index, usable, durable: usable == _chunks[index].Length);
    }

    /// <summary>Chunk digests: chunk <paramref name="index"/>'s current attempt now has <paramref name="written"/> bytes in place, <paramref name="added"/> of them just now.</summary>
    public void AddWritten(int index, long written, int added)
    {
        Interlocked.Add(ref _downloaded, added);
        Volatile.Write(ref _written[index], written);
        _changed();
    }

    /// <summary>Chunk digests: chunk <paramref name="index"/>'s bytes matched its digest; it may be hashed and recorded.</summary>
    public void Verified(int index) => Publish(index, _chunks[index].Length, durable: true);

    /// <summary>The bytes in place of chunk <paramref name="index"/>'s current attempt are void (<paramref name="received"/> of them came in this run).</summary>
    public void Void(int index, long received)
    {
        Interlocked.Add(ref _downloaded, -received);
        Interlocked.Increment(ref _attempts[index]);
        Volatile.Write(ref _written[index], 0);
        _changed();
    }

    /// <summary>A chunk taken from the journal failed its digest when hashed: it is to be fetched again.</summary>
    public void Untrust(int index)
    {
        _trusted[index] = false;
        Volatile.Write(ref _usable[index], 0);
        Interlocked.Add(ref _reused, -_chunks[index].Length);
    }

    /// <summary>A chunk taken from the journal matched its digest when hashed.</summary>
    public void Confirm(int index) => _trusted[index] = false;

    /// <summary>
    /// A usable chunk turned out wrong (its bytes did not match its digest when checked after the fact): it is to be
    /// fetched again; its bytes in place are void and no longer count as downloaded or reused.
    /// </summary>
    public void Reopen(int index)
    {
        long usable = Interlocked.Exchange(ref _usable[index], 0);
        if (_fromEarlierPull[index])
        {
            _fromEarlierPull[index] = false;
            Interlocked.Add(ref _reused, -usable);
        }
        else
        {
            Interlocked.Add(ref _downloaded, -usable);
        }

        Interlocked.Increment(ref _attempts[index]);
        Volatile.Write(ref _written[index], 0);
        _changed();
    }

    /// <summary>Moves the chunks that became durable since the last call into <paramref name="batch"/>.</summary>
    public void TakeDurable(List<int> batch)
    {
        while (_durable.TryDequeue(out int index))
        {
            batch.Add(index);
        }
    }

    private void Publish(int index, long usable, bool durable)
    {
        Volatile.Write(ref _usable[index], usable);
        if (durable)
        {
            _durable.Enqueue(index);
            _becameDurable();
        }

        _changed();
    }
}
