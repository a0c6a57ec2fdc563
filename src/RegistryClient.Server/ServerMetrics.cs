using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace RegistryClient.Server;

/// <summary>
/// What a server has done since it started: requests, blob and manifest bytes served, bytes received in pushes and
/// filled from an upstream. Published as observable counters on the <c>RegistryClient.Server</c> meter (for
/// OpenTelemetry and <c>dotnet-counters</c>) and as Prometheus text at <c>/metrics</c>.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "RegistryClient.Server";

    private readonly Meter _meter = new(MeterName);
    private readonly Func<long> _received;
    private readonly Func<long> _filled;
    private long _requests;
    private long _served;

    public ServerMetrics(Func<long> received, Func<long> filled)
    {
        _received = received;
        _filled = filled;
        _meter.CreateObservableCounter("regc.server.requests", () => Interlocked.Read(ref _requests), description: "Requests answered");
        _meter.CreateObservableCounter("regc.server.bytes_served", () => Interlocked.Read(ref _served), "By", "Body bytes sent to clients");
        _meter.CreateObservableCounter("regc.server.bytes_received", () => _received(), "By", "Blob bytes received in pushes");
        _meter.CreateObservableCounter("regc.server.bytes_filled", () => _filled(), "By", "Blob bytes fetched from the upstream of a pull-through cache");
    }

    /// <summary>Counts one answered request and its body bytes.</summary>
    public void Answered(long bytes)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _served, bytes);
    }

    /// <summary>The counters in Prometheus' text exposition format.</summary>
    public byte[] Prometheus()
    {
        var text = new StringBuilder();
        void Counter(string name, string help, long value) => text.Append(CultureInfo.InvariantCulture,
            $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
        Counter("regc_server_requests_total", "Requests answered.", Interlocked.Read(ref _requests));
        Counter("regc_server_bytes_served_total", "Body bytes sent to clients.", Interlocked.Read(ref _served));
        Counter("regc_server_bytes_received_total", "Blob bytes received in pushes.", _received());
        Counter("regc_server_bytes_filled_total", "Blob bytes fetched from the upstream of a pull-through cache.", _filled());
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public void Dispose() => _meter.Dispose();
}
