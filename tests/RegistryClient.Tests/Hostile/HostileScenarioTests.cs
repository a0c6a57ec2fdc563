using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Http;
using RegistryClient.Content;
using RegistryClient.Store;
using RegistryClient.Tests.Cli;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Hostile;

/// <summary>
/// The hostile-scenario suite: the real regc, as a child process, pulls from a registry that misbehaves in one way
/// per case. Every case must end either in a correct store (exit 0) or in one line of error and a non-zero exit,
/// and the auditor checks after each: every file in blobs/ hashes to its name, no manifest after a failure, no file
/// outside the store, no stack trace, peak memory under 300 MiB.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileScenarioTests(HostileFixture fixture) : IClassFixture<HostileFixture>, IDisposable
{
    private const long MemoryLimitKiB = 300 << 10;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>How a case must end.</summary>
    public enum Outcome
    {
        /// <summary>A correct store with the model's manifest (the fault was transient).</summary>
        Pulled,

        /// <summary>One line of error, a non-zero exit, no manifest.</summary>
        Refused,
    }

    /// <summary>A fault: answers a request itself (true) or lets the real registry answer (false).</summary>
    public delegate Task<bool> Fault(HostileFixture f, HttpContext context, HostileRequest request);

    /// <summary>
    /// What a scenario does and how it must end. Small requests get <paramref name="RequestTimeout"/> seconds (30, the
    /// default, unless the scenario is about them), so a machine that runs slow for seconds (seen on this VM after a restart)
    /// does not end a pull that is about something else: a first request that gets no answer in time is not retried. Transfers
    /// stall after 1 s.
    /// </summary>
    private sealed record Scenario(Outcome Expect, Fault Fault, string? ErrorContains = null, double RequestTimeout = 30);

    private static Fault Manifest(Func<HostileFixture, byte[]> bytes) => async (f, c, r) =>
    {
        if (r.Kind != "manifest")
        {
            return false;
        }

        await HostileFixture.ManifestAsync(c, bytes(f));
        return true;
    };

    private static Fault BigFirst(int times, Func<HostileFixture, HttpContext, HostileRequest, Task> answer) => async (f, c, r) =>
    {
        if (!f.IsBig(r) || r.Number > times)
        {
            return false;
        }

        await answer(f, c, r);
        return true;
    };

    private static Fault Every(string kind, Func<HostileFixture, HttpContext, HostileRequest, Task> answer) => async (f, c, r) =>
    {
        if (r.Kind != kind)
        {
            return false;
        }

        await answer(f, c, r);
        return true;
    };

    private static Fault Chunksums(Func<HostileFixture, string> body) => Every("chunksums", (f, c, r) => HostileFixture.AnswerAsync(c, 200, body(f)));

    private static async Task EndlessAsync(HttpContext context, byte fill)
    {
        byte[] block = new byte[64 << 10];
        Array.Fill(block, fill);
        while (!context.RequestAborted.IsCancellationRequested)
        {
            await context.Response.Body.WriteAsync(block, context.RequestAborted);
        }
    }

    /// <summary>1 GiB of zeros, gzipped (about 1 MiB).</summary>
    private static readonly Lazy<byte[]> s_gzipBomb = new(() =>
    {
        using var packed = new MemoryStream();
        using (var gzip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true))
        {
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 1024; i++)
            {
                gzip.Write(zeros);
            }
        }

        return packed.ToArray();
    });

    private static readonly Dictionary<string, Scenario> s_scenarios = new()
    {
        // Transient faults: the pull must end in a correct store.
        ["reset-mid-body"] = new(Outcome.Pulled, BigFirst(2, (f, c, r) => f.ServeAsync(c, r, sendBytes: 1 << 20).ContinueWith(_ => c.Abort(), TaskScheduler.Default))),
        ["close-before-answer"] = new(Outcome.Pulled, BigFirst(2, (f, c, r) => { c.Abort(); return Task.CompletedTask; })),
        ["stall-after-headers"] = new(Outcome.Pulled, BigFirst(1, (f, c, r) => f.HangAfterHeadersAsync(c, r))),
        ["stall-after-half-body"] = new(Outcome.Pulled, BigFirst(2, (f, c, r) => f.ServeAsync(c, r, sendBytes: 2 << 20, thenHang: true))),
        ["trickle"] = new(Outcome.Pulled, BigFirst(1, async (f, c, r) =>
        {
            c.Response.StatusCode = 206;
            (long start, long end) = HostileFixture.RangeOf(r, f.Big);
            c.Response.Headers.ContentRange = $"bytes {start}-{end}/{f.Big.Size}";
            c.Response.ContentLength = end - start + 1;
            byte[] bytes = f.Read(f.Big, start, end);
            for (int i = 0; !c.RequestAborted.IsCancellationRequested; i++)
            {
                await c.Response.Body.WriteAsync(bytes.AsMemory(i, 1), c.RequestAborted);
                await c.Response.Body.FlushAsync(c.RequestAborted);
                await Task.Delay(20, c.RequestAborted);
            }
        })),
        ["503-retry-after-seconds"] = new(Outcome.Pulled, BigFirst(2, (f, c, r) => HostileFixture.AnswerAsync(c, 503, null, h => h.RetryAfter = "1"))),
        ["503-retry-after-date"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            if (r.Kind != "manifest" || r.Number > 1)
            {
                return false;
            }

            await HostileFixture.AnswerAsync(c, 503, null, h => h.RetryAfter = DateTimeOffset.UtcNow.AddSeconds(1).ToString("R"));
            return true;
        }),
        ["429-garbage-retry-after"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            if (r.Kind != "manifest" || r.Number > 2)
            {
                return false;
            }

            await HostileFixture.AnswerAsync(c, 429, "slow down", h => h.RetryAfter = "soon");
            return true;
        }),
        ["500-502-504-then-ok"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            if (r.Kind != "manifest" || r.Number > 3)
            {
                return false;
            }

            await HostileFixture.AnswerAsync(c, r.Number switch { 1 => 500, 2 => 502, _ => 504 });
            return true;
        }),
        ["one-corrupted-chunk"] = new(Outcome.Pulled, BigFirst(1, (f, c, r) => f.ServeAsync(c, r, mutate: b => b[b.Length / 2] ^= 0x01))),
        ["ignores-range"] = new(Outcome.Pulled, (f, c, r) =>
        {
            c.Request.Headers.Remove("Range"); // the real handler then streams the whole blob with 200
            return Task.FromResult(false);
        }),
        ["chunksums-503-once"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            if (r.Kind != "chunksums" || r.Number > 1)
            {
                return false;
            }

            await HostileFixture.AnswerAsync(c, 503);
            return true;
        }),
        ["chunksums-404"] = new(Outcome.Pulled, Every("chunksums", (f, c, r) => HostileFixture.AnswerAsync(c, 404))),
        ["shifted-content-range-once"] = new(Outcome.Pulled, BigFirst(1, async (f, c, r) =>
        {
            (long start, long end) = HostileFixture.RangeOf(r, f.Big);
            c.Response.StatusCode = 206;
            c.Response.Headers.ContentRange = $"bytes {start + 1}-{end}/{f.Big.Size}";
            await c.Response.Body.WriteAsync(f.Read(f.Big, start + 1, end));
        })),
        ["missing-content-range-once"] = new(Outcome.Pulled, BigFirst(1, async (f, c, r) =>
        {
            (long start, long end) = HostileFixture.RangeOf(r, f.Big);
            c.Response.StatusCode = 206;
            await c.Response.Body.WriteAsync(f.Read(f.Big, start, end));
        })),
        ["duplicate-content-range-once"] = new(Outcome.Pulled, BigFirst(1, async (f, c, r) =>
        {
            (long start, long end) = HostileFixture.RangeOf(r, f.Big);
            c.Response.StatusCode = 206;
            c.Response.Headers.Append("Content-Range", $"bytes {start}-{end}/{f.Big.Size}");
            c.Response.Headers.Append("Content-Range", $"bytes 0-{end - start}/{f.Big.Size}");
            await c.Response.Body.WriteAsync(f.Read(f.Big, start, end));
        })),
        ["body-shorter-than-length-once"] = new(Outcome.Pulled, BigFirst(1, (f, c, r) => f.ServeAsync(c, r, sendBytes: 100_000))),
        ["body-longer-than-asked"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            if (!f.IsSmall(r))
            {
                return false;
            }

            // No Content-Length (chunked): the right bytes, then 1 MiB more than asked for.
            (long start, long end) = HostileFixture.RangeOf(r, f.Small);
            c.Response.StatusCode = 206;
            c.Response.Headers.ContentRange = $"bytes {start}-{end}/{f.Small.Size}";
            await c.Response.Body.WriteAsync(f.Read(f.Small, start, end));
            await c.Response.Body.WriteAsync(new byte[1 << 20]);
            return true;
        }),
        ["endless-body-after-the-right-bytes"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            if (!f.IsSmall(r))
            {
                return false;
            }

            await c.Response.Body.WriteAsync(f.Read(f.Small, 0, f.Small.Size - 1));
            await EndlessAsync(c, 0x42);
            return true;
        }),
        ["redirect-to-storage-host"] = new(Outcome.Pulled, Every("blob", (f, c, r) =>
        {
            c.Response.StatusCode = 307;
            c.Response.Headers.Location = $"http://{f.Storage.HostAndPort}{r.Path}?X-Signature=secret";
            return Task.CompletedTask;
        })),
        ["redirect-chain-of-five"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            int hop = int.TryParse(c.Request.Query["hop"], out int h) ? h : 0;
            if (r.Kind != "blob" || hop >= 5)
            {
                return false;
            }

            c.Response.StatusCode = hop % 2 == 0 ? 302 : 308;
            c.Response.Headers.Location = $"{r.Path}?hop={hop + 1}";
            await Task.CompletedTask;
            return true;
        }),

        // Every manifest answer takes 1.5 s: over the 1 s stall timeout, under the 30 s --request-timeout.
        ["slow-manifest-within-request-timeout"] = new(Outcome.Pulled, async (f, c, r) =>
        {
            if (r.Kind == "manifest")
            {
                await Task.Delay(TimeSpan.FromSeconds(1.5), c.RequestAborted);
            }

            return false;
        }),

        // Permanent faults and bad data: one line of error, nothing stored.
        ["always-503"] = new(Outcome.Refused, Every("manifest", (f, c, r) => HostileFixture.AnswerAsync(c, 503)), "503"),
        ["always-stall-blob"] = new(Outcome.Refused, (f, c, r) => f.IsBig(r) ? f.HangAfterHeadersAsync(c, r).ContinueWith(_ => true, TaskScheduler.Default) : Task.FromResult(false), "3 stalls without progress"),
        ["always-stall-manifest"] = new(Outcome.Refused, Every("manifest", (f, c, r) => Task.Delay(Timeout.Infinite, c.RequestAborted)), "did not answer", RequestTimeout: 1),
        ["manifest-404"] = new(Outcome.Refused, Every("manifest", (f, c, r) => HostileFixture.AnswerAsync(c, 404, """{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}""")), "not found"),
        ["manifest-401"] = new(Outcome.Refused, Every("manifest", (f, c, r) => HostileFixture.AnswerAsync(c, 401, """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""")), "401"),
        ["blob-403"] = new(Outcome.Refused, Every("blob", (f, c, r) => HostileFixture.AnswerAsync(c, 403)), "403"),
        ["chunk-always-corrupt"] = new(Outcome.Refused, (f, c, r) => f.IsBig(r) && r.Range.StartsWith("bytes=0-", StringComparison.Ordinal)
            ? f.ServeAsync(c, r, mutate: b => b[7] ^= 0x80).ContinueWith(_ => true, TaskScheduler.Default)
            : Task.FromResult(false), "expected sha256:"),
        ["chunksums-consistent-lie"] = new(Outcome.Refused, async (f, c, r) =>
        {
            (byte[] content, string sums) = f.ConsistentLie();
            if (r.Kind == "chunksums")
            {
                await HostileFixture.AnswerAsync(c, 200, sums);
                return true;
            }

            if (!f.IsBig(r))
            {
                return false;
            }

            (long start, long end) = HostileFixture.RangeOf(r, f.Big);
            c.Response.StatusCode = 206;
            c.Response.Headers.ContentRange = $"bytes {start}-{end}/{f.Big.Size}";
            await c.Response.Body.WriteAsync(content.AsMemory((int)start, (int)(end - start + 1)));
            return true;
        }, "was not stored"),
        ["traversal-digest"] = new(Outcome.Refused, Manifest(f => f.ManifestWithBig(d => d.Replace(f.Big.Digest.ToString(), "sha256:../../../../etc/passwd", StringComparison.Ordinal))), "digest"),
        ["negative-size"] = new(Outcome.Refused, Manifest(f => f.ManifestWithBig(d => d.Replace($"\"size\":{f.Big.Size}", "\"size\":-5", StringComparison.Ordinal))), "size"),
        ["huge-size"] = new(Outcome.Refused, Manifest(f => f.ManifestWithBig(d => d.Replace($"\"size\":{f.Big.Size}", "\"size\":1125899906842624", StringComparison.Ordinal))), "space"),
        ["size-smaller-than-blob"] = new(Outcome.Refused, Manifest(f => f.ManifestWithBig(d => d.Replace($"\"size\":{f.Big.Size}", $"\"size\":{f.Big.Size - 1}", StringComparison.Ordinal)))),
        ["junk-manifest"] = new(Outcome.Refused, Manifest(_ => "!!!"u8.ToArray()), "manifest"),
        ["null-manifest"] = new(Outcome.Refused, Manifest(_ => "null"u8.ToArray()), "manifest"),
        ["deeply-nested-manifest"] = new(Outcome.Refused, Manifest(_ => Encoding.ASCII.GetBytes(new string('[', 10_000))), "manifest"),
        ["endless-manifest"] = new(Outcome.Refused, Every("manifest", (f, c, r) => EndlessAsync(c, (byte)' ')), "4 MiB"),
        ["gzip-bomb-manifest"] = new(Outcome.Refused, Every("manifest", async (f, c, r) =>
        {
            c.Response.Headers.ContentEncoding = "gzip";
            c.Response.ContentType = MediaTypes.DockerManifest;
            await c.Response.Body.WriteAsync(s_gzipBomb.Value);
        }), "Content-Encoding"),
        ["endless-garbage-blob"] = new(Outcome.Refused, Every("blob", (f, c, r) => EndlessAsync(c, 0x66))),
        ["enormous-content-length"] = new(Outcome.Refused, (f, c, r) => f.IsBig(r)
            ? HostileFixture.HangAfterHeadersAsync(c, 1L << 40).ContinueWith(_ => true, TaskScheduler.Default)
            : Task.FromResult(false), "Content-Length"),
        ["lying-docker-content-digest"] = new(Outcome.Refused, Every("manifest", async (f, c, r) =>
        {
            c.Response.Headers["Docker-Content-Digest"] = Digest.Compute("other"u8).ToString();
            await HostileFixture.ManifestAsync(c, f.ManifestBytes);
        }), "announced"),
        ["redirect-loop"] = new(Outcome.Refused, Every("blob", (f, c, r) =>
        {
            c.Response.StatusCode = 302;
            c.Response.Headers.Location = r.Path;
            return Task.CompletedTask;
        }), "redirected more than"),
        ["redirect-to-file-url"] = new(Outcome.Refused, Every("blob", (f, c, r) =>
        {
            c.Response.StatusCode = 307;
            c.Response.Headers.Location = "file:///etc/passwd";
            return Task.CompletedTask;
        }), "file"),
        ["chunksums-with-a-gap"] = new(Outcome.Refused, Chunksums(f => $"{Digest.Compute("a"u8)} 0-99\n{Digest.Compute("b"u8)} 200-{f.Big.Size - 1}\n"), "line 2"),
        ["chunksums-endless"] = new(Outcome.Refused, Every("chunksums", (f, c, r) => EndlessAsync(c, (byte)'x')), "chunksums"),
        ["content-range-total-differs"] = new(Outcome.Refused, (f, c, r) =>
        {
            if (!f.IsBig(r))
            {
                return Task.FromResult(false);
            }

            (long start, long end) = HostileFixture.RangeOf(r, f.Big);
            c.Response.StatusCode = 206;
            c.Response.Headers.ContentRange = $"bytes {start}-{end}/{f.Big.Size + 1}";
            return c.Response.Body.WriteAsync(f.Read(f.Big, start, end)).AsTask().ContinueWith(_ => true, TaskScheduler.Default);
        }, "the manifest says"),
    };

    public static TheoryData<string> Names() => new(s_scenarios.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Scenario_EndsInACorrectStoreOrOneLineOfError(string name)
    {
        Scenario scenario = s_scenarios[name];
        fixture.Registry.Reset();
        fixture.Storage.Reset();
        fixture.Registry.Fault = (c, r) => scenario.Fault(fixture, c, r);
        try
        {
            var target = new ModelStore(_temp.Combine("store"));
            string sentinel = StoreAuditor.CreateSentinel(_temp.Path);
            (int exit, string stdout, string stderr, long peakKiB) = await PullAsync(target.Root, scenario.RequestTimeout);

            AuditAfter(name, scenario.Expect, target, sentinel, exit, stdout, stderr, peakKiB, scenario.ErrorContains);
            if (name == "redirect-to-storage-host")
            {
                Assert.NotEmpty(fixture.Storage.Server.Requests);
                Assert.All(fixture.Storage.Server.Requests, request => Assert.Equal(string.Empty, request.Authorization));
            }

            if (name is "traversal-digest" or "negative-size" or "huge-size" or "junk-manifest")
            {
                Assert.Equal(0, fixture.Registry.Count("blob")); // refused before any blob was asked for
            }
        }
        finally
        {
            fixture.Registry.Fault = null;
        }
    }

    /// <summary>
    /// Issue 4's relative trickle rule: every range comes at 4 MB/s except the first request for the third chunk,
    /// at 100 KB/s (above the absolute floor of 64 KiB per stall timeout, so only the comparison with the other
    /// streams catches it, and alone it would take 40 s). The slow transfer is cut and continued from the byte where
    /// it stopped.
    /// </summary>
    [Fact]
    public async Task SlowStreamAmongFastOnes_IsCutAndContinuedFromWhereItStopped()
    {
        fixture.Registry.Reset();
        long slowStart = 2 * HostileFixture.ChunkSize;
        var ranges = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int slowServed = 0;
        fixture.Registry.Fault = async (c, r) =>
        {
            if (!fixture.IsBig(r))
            {
                return false;
            }

            (long start, long end) = HostileFixture.RangeOf(r, fixture.Big);
            if (start >= slowStart && start < slowStart + HostileFixture.ChunkSize)
            {
                ranges.Enqueue(r.Range);
            }

            bool slow = start == slowStart && Interlocked.Exchange(ref slowServed, 1) == 0;
            await fixture.ServeAtAsync(c, r, slow ? 100_000 : 4_000_000);
            return true;
        };
        try
        {
            var target = new ModelStore(_temp.Combine("store"));
            string sentinel = StoreAuditor.CreateSentinel(_temp.Path);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            (int exit, string stdout, string stderr, long peakKiB) = await RegcProcess.RunMeasuredAsync(
                "pull", $"http://{fixture.Registry.HostAndPort}/{HostileFixture.Repository}:latest", "--models", target.Root,
                "--stall-timeout", "5", "--retries", "4", "--retry-wait", "0.05");
            clock.Stop();

            AuditAfter("slow-stream", Outcome.Pulled, target, sentinel, exit, stdout, stderr, peakKiB, null);
            string[] asked = ranges.ToArray();
            Assert.True(asked.Length >= 2, $"the slow chunk was asked for {asked.Length} time(s): {string.Join(", ", asked)}");
            Assert.Equal($"bytes={slowStart}-{slowStart + HostileFixture.ChunkSize - 1}", asked[0]);
            long resumedAt = long.Parse(asked[1]["bytes=".Length..].Split('-')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(resumedAt > slowStart, $"the retry started at {resumedAt}, not past the bytes already received");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the pull took {clock.Elapsed.TotalSeconds:0.0} s: the slow stream was not cut");
        }
        finally
        {
            fixture.Registry.Fault = null;
        }
    }

    /// <summary>Raw-socket cases: answers no HTTP server library would send.</summary>
    [Theory]
    [InlineData("not-http", "HELLO THERE\r\n\r\n")]
    [InlineData("endless-headers", null)]
    public async Task RawScenario_EndsInOneLineOfError(string name, string? reply)
    {
        await using var raw = new RawServer(async (stream, token) =>
        {
            if (reply is not null)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(reply), token);
                return;
            }

            await stream.WriteAsync("HTTP/1.1 200 OK\r\n"u8.ToArray(), token);
            byte[] header = Encoding.ASCII.GetBytes("X-Filler: " + new string('a', 1000) + "\r\n");
            for (int i = 0; i < 100_000 && !token.IsCancellationRequested; i++)
            {
                await stream.WriteAsync(header, token);
            }
        });
        var target = new ModelStore(_temp.Combine("store"));
        string sentinel = StoreAuditor.CreateSentinel(_temp.Path);
        (int exit, string stdout, string stderr, long peakKiB) = await RegcProcess.RunMeasuredAsync(
            "pull", $"http://{raw.HostAndPort}/library/hostile:latest", "--models", target.Root, "--retries", "1", "--retry-wait", "0.05", "--stall-timeout", "2");
        AuditAfter(name, Outcome.Refused, target, sentinel, exit, stdout, stderr, peakKiB, null);
    }

    private Task<(int ExitCode, string Stdout, string Stderr, long PeakRssKiB)> PullAsync(string store, double requestTimeout) => RegcProcess.RunMeasuredAsync(
        "pull", $"http://{fixture.Registry.HostAndPort}/{HostileFixture.Repository}:latest", "--models", store,
        "--stall-timeout", "1", "--request-timeout", requestTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture), "--retries", "4", "--retry-wait", "0.05");

    private void AuditAfter(string name, Outcome expect, ModelStore target, string sentinel, int exit, string stdout, string stderr, long peakKiB, string? errorContains)
    {
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal); // no stack trace
        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
        StoreAuditor.AssertConsistent(target);
        StoreAuditor.AssertSentinelUntouched(sentinel);
        Assert.True(peakKiB < MemoryLimitKiB, $"{name}: peak memory {peakKiB >> 10} MiB");
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path).Select(Path.GetFileName).Except(["store", "sentinel"]));
        if (expect == Outcome.Pulled)
        {
            Assert.True(exit == 0, $"{name}: exit {exit}: {stderr}");
            Assert.Single(target.ListManifests());
            foreach (Descriptor blob in fixture.Manifest.Blobs)
            {
                Assert.Equal(blob.Size, target.GetBlobSize(blob.Digest));
            }
        }
        else
        {
            Assert.True(exit != 0, $"{name}: expected a failure, got exit 0: {stdout}");
            string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.True(lines.Length == 1, $"{name}: expected one line of error, got: {stderr}");
            Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
            if (errorContains is not null)
            {
                Assert.Contains(errorContains, lines[0], StringComparison.OrdinalIgnoreCase);
            }

            StoreAuditor.AssertNoManifests(target);
        }
    }
}
