using System.Security.Cryptography;

namespace RegistryClient.Hashing;

/// <summary>
/// The SHA-256 of one chunk as it streams: in the shared lanes of a <see cref="LaneHashEngine"/> engine when the pull
/// runs one (many chunks at once), else through OpenSSL (<see cref="IncrementalHash"/>).
/// </summary>
internal sealed class ChunkHasher : IDisposable
{
    private readonly IncrementalHash? _openSsl;
    private readonly LaneHash? _lanes;

    /// <param name="lanes">The pull's lane engine, or null for OpenSSL.</param>
    public ChunkHasher(LaneHashEngine? lanes)
    {
        if (lanes is null)
        {
            _openSsl = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        }
        else
        {
            _lanes = lanes.CreateHash();
        }
    }

    /// <summary>Adds bytes; they must stay unchanged until the task completes.</summary>
    public Task AppendAsync(ReadOnlyMemory<byte> data)
    {
        if (_lanes is not null)
        {
            return _lanes.AppendAsync(data);
        }

        _openSsl!.AppendData(data.Span);
        return Task.CompletedTask;
    }

    /// <summary>Writes the 32-byte digest of the bytes added and starts over.</summary>
    public void GetHashAndReset(Span<byte> destination)
    {
        if (_lanes is not null)
        {
            _lanes.GetHashAndReset(destination);
        }
        else
        {
            _openSsl!.GetHashAndReset(destination);
        }
    }

    public void Dispose()
    {
        _openSsl?.Dispose();
        _lanes?.Dispose();
    }
}
