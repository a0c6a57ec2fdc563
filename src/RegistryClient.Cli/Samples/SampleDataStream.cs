using System.Buffers.Binary;

namespace RegistryClient.Cli.Samples;

/// <summary>
/// A read-only stream of deterministic pseudo-random bytes (SplitMix64), the same for the same seed on every
/// machine. Used for demo models, tests and benchmarks instead of <see cref="Random"/>, whose sequence is not
/// guaranteed across runtime versions.
/// </summary>
internal sealed class SampleDataStream : Stream
{
    private readonly ulong _seed;
    private readonly long _length;
    private long _position;

    /// <summary>Creates a stream of <paramref name="length"/> bytes for <paramref name="seed"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    public SampleDataStream(ulong seed, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _seed = seed;
        _length = length;
    }

    /// <inheritdoc/>
    public override bool CanRead => true;

    /// <inheritdoc/>
    public override bool CanSeek => true;

    /// <inheritdoc/>
    public override bool CanWrite => false;

    /// <inheritdoc/>
    public override long Length => _length;

    /// <inheritdoc/>
    public override long Position
    {
        get => _position;
        set => _position = Math.Clamp(value, 0, _length);
    }

    /// <summary>Fills <paramref name="destination"/> with the bytes at <paramref name="offset"/> of the sequence for <paramref name="seed"/>.</summary>
    public static void Fill(ulong seed, long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        long word = offset / 8;
        int skip = (int)(offset % 8);
        Span<byte> scratch = stackalloc byte[8];
        int written = 0;
        if (skip != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, Mix(seed, word++));
            int take = Math.Min(8 - skip, destination.Length);
            scratch.Slice(skip, take).CopyTo(destination);
            written = take;
        }

        while (destination.Length - written >= 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[written..], Mix(seed, word++));
            written += 8;
        }

        if (written < destination.Length)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, Mix(seed, word));
            scratch[..(destination.Length - written)].CopyTo(destination[written..]);
        }
    }

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        int count = (int)Math.Min(buffer.Length, _length - _position);
        if (count <= 0)
        {
            return 0;
        }

        Fill(_seed, _position, buffer[..count]);
        _position += count;
        return count;
    }

    /// <inheritdoc/>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => _length + offset,
        };
        return _position;
    }

    /// <inheritdoc/>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>SplitMix64 of word <paramref name="index"/>: random access, so any range can be generated alone.</summary>
    private static ulong Mix(ulong seed, long index)
    {
        ulong z = seed + (0x9E3779B97F4A7C15UL * (ulong)(index + 1));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
