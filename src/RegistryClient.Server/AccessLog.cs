using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace RegistryClient.Server;

/// <summary>
/// Writes one line per request in common log format:
/// <c>127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET /v2/... HTTP/1.1" 206 1048576</c>, where the last field
/// is the number of body bytes actually written (less than announced when the client went away).
/// </summary>
internal sealed class AccessLog
{
    /// <summary>The <see cref="HttpContext.Items"/> key under which handlers count body bytes sent.</summary>
    public const string BytesSentKey = "regc.bytes";

    private readonly TextWriter? _writer;
    private readonly ServerMetrics? _metrics;
    private readonly Lock _lock = new();

    public AccessLog(TextWriter? writer, ServerMetrics? metrics = null)
    {
        _writer = writer;
        _metrics = metrics;
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            Write(context);
        }
    }

    private void Write(HttpContext context)
    {
        long bytes = context.Items.TryGetValue(BytesSentKey, out object? sent) && sent is long count ? count : 0;
        _metrics?.Answered(bytes);
        if (_writer is null)
        {
            return;
        }

        HttpRequest request = context.Request;
        DateTimeOffset now = DateTimeOffset.Now;
        TimeSpan offset = now.Offset;
        string zone = string.Create(CultureInfo.InvariantCulture, $"{(offset < TimeSpan.Zero ? '-' : '+')}{Math.Abs(offset.Hours):00}{Math.Abs(offset.Minutes):00}");
        string target = request.PathBase + request.Path + request.QueryString;
        string line = string.Create(
            CultureInfo.InvariantCulture,
            $"{context.Connection.RemoteIpAddress} - - [{now:dd/MMM/yyyy:HH:mm:ss} {zone}] \"{request.Method} {target} {request.Protocol}\" {context.Response.StatusCode} {bytes}");
        lock (_lock)
        {
            _writer.WriteLine(line);
            _writer.Flush();
        }
    }
}
