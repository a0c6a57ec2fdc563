using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Names;
using RegistryClient.Cli.Samples;
using RegistryClient.Store;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Hostile;

/// <summary>
/// One source model for the hostile suite, behind a <see cref="HostileRegistry"/>: a 66 MiB weights layer (over the
/// chunksums threshold, so it takes the chunk path, 17 chunks of 4 MiB), a 200 KB layer (one request) and the
/// config. Also the helpers the scenarios answer with.
/// </summary>
public sealed class HostileFixture : IAsyncLifetime
{
    public const long BigSize = (66L << 20) + 12_345;
    public const long SmallSize = 200_000;
    public const long ChunkSize = 4L << 20;
    public const string Repository = "library/hostile";

    private readonly TempDirectory _temp = new();

    public ModelStore Source { get; private set; } = null!;

    public byte[] ManifestBytes { get; private set; } = null!;

    public Manifest Manifest { get; private set; } = null!;

    public Descriptor Big => Manifest.Layers[0];

    public Descriptor Small => Manifest.Layers[1];

    public HostileRegistry Registry { get; private set; } = null!;

    /// <summary>A second host (another loopback address) that serves blobs, for redirects to storage.</summary>
    public HostileRegistry Storage { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Source = new ModelStore(_temp.Combine("source"));
        ManifestBytes = await SampleModel.CreateAsync(Source, ModelName.Parse("registry.ollama.ai/library/hostile:latest"), [BigSize, SmallSize], seed: 4242);
        Manifest = Manifest.Parse(ManifestBytes);
        Registry = await HostileRegistry.StartAsync(Source, ChunkSize);
        Storage = await HostileRegistry.StartAsync(Source, ChunkSize, "127.0.0.2");
    }

    public async ValueTask DisposeAsync()
    {
        await Registry.DisposeAsync();
        await Storage.DisposeAsync();
        _temp.Dispose();
    }

    public bool IsBig(HostileRequest request) => request.Kind == "blob" && request.Path.EndsWith(Big.Digest.ToString(), StringComparison.Ordinal);

    public bool IsSmall(HostileRequest request) => request.Kind == "blob" && request.Path.EndsWith(Small.Digest.ToString(), StringComparison.Ordinal);

    /// <summary>The bytes of a blob between two offsets (inclusive), read from the source store.</summary>
    public byte[] Read(Descriptor blob, long start, long end) => Read(Source, blob, start, end);

    /// <summary>The bytes of a blob of <paramref name="store"/> between two offsets (inclusive).</summary>
    public static byte[] Read(ModelStore store, Descriptor blob, long start, long end)
    {
        byte[] bytes = new byte[end - start + 1];
        using var handle = File.OpenHandle(store.GetBlobPath(blob.Digest));
        int read = RandomAccess.Read(handle, bytes, start);
        Assert.Equal(bytes.Length, read);
        return bytes;
    }

    /// <summary>The range a request asks for (the whole blob without a Range header).</summary>
    public static (long Start, long End) RangeOf(HostileRequest request, Descriptor blob)
    {
        if (!request.Range.StartsWith("bytes=", StringComparison.Ordinal))
        {
            return (0, blob.Size - 1);
        }

        string[] parts = request.Range[6..].Split('-');
        long start = long.Parse(parts[0], CultureInfo.InvariantCulture);
        long end = parts[1].Length == 0 ? blob.Size - 1 : Math.Min(long.Parse(parts[1], CultureInfo.InvariantCulture), blob.Size - 1);
        return (start, end);
    }

    /// <summary>
    /// Answers a blob request as a correct registry would (206 with Content-Range, or 200 without Range), through
    /// <paramref name="mutate"/> (which may change the bytes) and sending only the first <paramref name="sendBytes"/>
    /// bytes of the body when given; then, with <paramref name="thenHang"/>, holds the connection open.
    /// </summary>
    public async Task ServeAsync(HttpContext context, HostileRequest request, Action<byte[]>? mutate = null, long? sendBytes = null, bool thenHang = false)
    {
        Descriptor blob = Manifest.Blobs.First(b => request.Path.EndsWith(b.Digest.ToString(), StringComparison.Ordinal));
        (long start, long end) = RangeOf(request, blob);
        byte[] body = Read(blob, start, end);
        mutate?.Invoke(body);
        if (request.Range.Length > 0)
        {
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {start}-{end}/{blob.Size}";
        }

        context.Response.ContentLength = body.Length;
        int count = (int)Math.Min(body.Length, sendBytes ?? body.Length);
        await context.Response.Body.WriteAsync(body.AsMemory(0, count));
        await context.Response.Body.FlushAsync();
        if (thenHang)
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
    }

    /// <summary>Answers a range of the big layer correctly, but at about <paramref name="bytesPerSecond"/>.</summary>
    public async Task ServeAtAsync(HttpContext context, HostileRequest request, int bytesPerSecond)
    {
        (long start, long end) = RangeOf(request, Big);
        byte[] bytes = Read(Big, start, end);
        context.Response.StatusCode = 206;
        context.Response.Headers.ContentRange = $"bytes {start}-{end}/{Big.Size}";
        context.Response.ContentLength = bytes.Length;
        const int Piece = 16 << 10;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int sent = 0; sent < bytes.Length; sent += Piece)
        {
            await context.Response.Body.WriteAsync(bytes.AsMemory(sent, Math.Min(Piece, bytes.Length - sent)), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            TimeSpan due = TimeSpan.FromSeconds((double)(sent + Piece) / bytesPerSecond) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, context.RequestAborted);
            }
        }
    }

    /// <summary>Sends the right headers for a blob request (206, Content-Range, length) and then nothing, until the client gives up.</summary>
    public async Task HangAfterHeadersAsync(HttpContext context, HostileRequest request)
    {
        (long start, long end) = RangeOf(request, Big);
        context.Response.StatusCode = 206;
        context.Response.Headers.ContentRange = $"bytes {start}-{end}/{Big.Size}";
        await HangAfterHeadersAsync(context, end - start + 1);
    }

    /// <summary>Sends headers (status, length) and then nothing, until the client gives up.</summary>
    public static async Task HangAfterHeadersAsync(HttpContext context, long contentLength)
    {
        context.Response.ContentLength = contentLength;
        await context.Response.StartAsync();
        await context.Response.Body.FlushAsync();
        await Task.Delay(Timeout.Infinite, context.RequestAborted);
    }

    public static async Task AnswerAsync(HttpContext context, int status, string? body = null, Action<IHeaderDictionary>? headers = null)
    {
        context.Response.StatusCode = status;
        headers?.Invoke(context.Response.Headers);
        if (body is not null)
        {
            await context.Response.WriteAsync(body);
        }
    }

    public static async Task ManifestAsync(HttpContext context, byte[] manifest)
    {
        context.Response.ContentType = MediaTypes.DockerManifest;
        context.Response.ContentLength = manifest.Length;
        await context.Response.Body.WriteAsync(manifest);
    }

    /// <summary>This model's manifest with the big layer's descriptor replaced.</summary>
    public byte[] ManifestWithBig(Func<string, string> rewriteDescriptorJson)
    {
        string text = Encoding.UTF8.GetString(ManifestBytes);
        string digest = Big.Digest.ToString();
        int at = text.IndexOf(digest, StringComparison.Ordinal);
        int open = text.LastIndexOf('{', at);
        int close = text.IndexOf('}', at);
        return Encoding.UTF8.GetBytes(text[..open] + rewriteDescriptorJson(text[open..(close + 1)]) + text[(close + 1)..]);
    }

    /// <summary>Chunksums of other bytes of the big layer's size (one byte flipped), consistent with those bytes.</summary>
    public (byte[] Content, string ChunkSums) ConsistentLie() => _lie ??= MakeLie();

    private (byte[] Content, string ChunkSums)? _lie;

    private (byte[] Content, string ChunkSums) MakeLie()
    {
        byte[] content = Read(Big, 0, Big.Size - 1);
        content[content.Length / 3] ^= 0x5A;
        var text = new StringBuilder();
        for (long start = 0; start < content.Length; start += ChunkSize)
        {
            long end = Math.Min(start + ChunkSize, content.Length) - 1;
            string hex = Convert.ToHexStringLower(SHA256.HashData(content.AsSpan((int)start, (int)(end - start + 1))));
            text.Append(CultureInfo.InvariantCulture, $"sha256:{hex} {start}-{end}\n");
        }

        return (content, text.ToString());
    }
}
