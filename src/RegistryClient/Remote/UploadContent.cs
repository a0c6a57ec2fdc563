namespace RegistryClient.Remote;

/// <summary>
/// The body of an upload request: <c>length</c> bytes of the stream a factory opens (once per send), copied in 1 MiB
/// pieces, each piece reported as sent and proof that the registry is taking bytes (a stall timer is re-armed).
/// </summary>
internal sealed class UploadContent(Func<Stream> open, long length, Action progressed, IProgress<long>? sent) : HttpContent
{
    private const int PieceSize = 1 << 20;

    protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
    {
        Stream source = open();
        await using (source.ConfigureAwait(false))
        {
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(PieceSize);
            try
            {
                long left = length;
                while (left > 0)
                {
                    int read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(PieceSize, left)), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        throw new IOException($"the upload's source ended {left} bytes early");
                    }

                    await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    left -= read;
                    progressed();
                    sent?.Report(read);
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    protected override bool TryComputeLength(out long length1)
    {
        length1 = length;
        return true;
    }
}
