using System.Security.Cryptography;

namespace RegistryClient.Content;

/// <summary>
/// Reads a blob's bytes through to the caller while hashing them; at the end of the stream the length and the SHA-256
/// must be the descriptor's, else the last read throws. A reader that reaches the end has read verified bytes only
/// if no exception came; one that stops early has read unverified bytes.
/// </summary>
internal sealed class VerifyingStream(Stream inner, Descriptor blob) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _read;
    private bool _checked;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => blob.Size;

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => Account(buffer, inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span, read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Account(ReadOnlySpan<byte> buffer, int read)
    {
        if (read > 0)
        {
            _read += read;
            if (_read > blob.Size)
            {
                throw new DigestMismatchException($"blob {blob.Digest} has more than the {blob.Size} bytes its descriptor gives");
            }

            _hash.AppendData(buffer[..read]);
            return read;
        }

        if (!_checked)
        {
            _checked = true;
            if (_read != blob.Size)
            {
                throw new DigestMismatchException($"blob {blob.Digest} ended after {_read} of its {blob.Size} bytes");
            }

            byte[] actual = _hash.GetHashAndReset();
            if (!blob.Digest.Matches(actual))
            {
                throw new DigestMismatchException($"blob {blob.Digest} arrived with digest {Digest.FromHash(actual)}");
            }
        }

        return 0;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }
}
