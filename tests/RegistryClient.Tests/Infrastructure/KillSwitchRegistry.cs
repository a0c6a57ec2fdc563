using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using RegistryClient.Server;
using RegistryClient.Store;

namespace RegistryClient.Tests.Infrastructure;

/// <summary>
/// The project's real registry handler over a store, behind a test front that counts the blob bytes it sends and
/// can hold chosen requests and SIGKILL a client process at a chosen moment: on a request's arrival, or once a
/// number of blob bytes has been sent.
/// </summary>
public sealed class KillSwitchRegistry : IAsyncDisposable
{
    private readonly FaultServer _server;
    private long _blobBytes;

    private KillSwitchRegistry(FaultServer server) => _server = server;

    public string HostAndPort => _server.HostAndPort;

    public FaultServer Server => _server;

    /// <summary>The process to kill; set before the trigger can fire.</summary>
    public Process? Victim { get; set; }

    /// <summary>Blob body bytes sent since the last <see cref="ResetCount"/>.</summary>
    public long BlobBytes => Interlocked.Read(ref _blobBytes);

    /// <summary>Blob bytes sent when the victim was killed, or -1 if it was not.</summary>
    public long BytesAtKill { get; private set; } = -1;

    /// <summary>Kill the victim when a request whose path contains this arrives, and hold that request.</summary>
    public string? KillOnRequest { get; set; }

    /// <summary>Kill the victim once this many blob bytes were sent.</summary>
    public long? KillAtBlobBytes { get; set; }

    /// <summary>Hold (never answer) blob requests whose Range header equals this.</summary>
    public string? HoldRange { get; set; }

    /// <summary>Ranges of blob requests answered in full since the last reset.</summary>
    public ConcurrentBag<string> CompletedRanges { get; } = [];

    public static async Task<KillSwitchRegistry> StartAsync(ModelStore store, long chunkSize)
    {
        var handler = new RegistryHandler(store, upstream: null, chunkSize);
        KillSwitchRegistry? registry = null;
        FaultServer server = await FaultServer.StartAsync(context => registry!.HandleAsync(context, handler));
        registry = new KillSwitchRegistry(server);
        return registry;
    }

    public void ResetCount()
    {
        Interlocked.Exchange(ref _blobBytes, 0);
        CompletedRanges.Clear();
    }

    public void Kill()
    {
        Process? victim = Victim;
        if (victim is null || BytesAtKill >= 0)
        {
            return;
        }

        BytesAtKill = BlobBytes;
        try
        {
            victim.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private async Task HandleAsync(HttpContext context, RegistryHandler handler)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        string range = context.Request.Headers.Range.ToString();
        bool blob = path.Contains("/blobs/", StringComparison.Ordinal);
        if ((KillOnRequest is { } trigger && path.Contains(trigger, StringComparison.Ordinal)) || (blob && HoldRange is { } held && range == held))
        {
            if (KillOnRequest is { } t && path.Contains(t, StringComparison.Ordinal))
            {
                Kill();
            }

            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The client died or the server stops.
            }

            return;
        }

        if (blob)
        {
            Stream original = context.Response.Body;
            context.Response.Body = new CountingStream(original, sent =>
            {
                long total = Interlocked.Add(ref _blobBytes, sent);
                if (KillAtBlobBytes is { } limit && total >= limit)
                {
                    Kill();
                }
            });
            await handler.HandleAsync(context);
            await context.Response.Body.FlushAsync();
            CompletedRanges.Add(range);
            return;
        }

        await handler.HandleAsync(context);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private sealed class CountingStream(Stream inner, Action<int> onWritten) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            onWritten(count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            onWritten(buffer.Length);
        }
    }
}
