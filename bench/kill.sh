#!/usr/bin/env bash
# Kill/resume benchmark: how much a SIGKILL at full speed costs. regc pulls a blob from `regc serve` on loopback and
# is killed (kill -9) at several points of a full-speed pull, then pulls again to completion. The server's access log
# counts the blob's bytes it sent; what was sent beyond the blob's size over both pulls is what the kill cost
# (bytes sent before the kill that the resumed pull fetched again). The bound is concurrency x chunk size: the
# chunks in flight at the kill.
#
# usage: bench/kill.sh [SIZE_MIB=1024] [POINTS="0.2 0.4 0.6 0.8"]
set -euo pipefail
size_mib=${1:-1024}
points=${2:-0.2 0.4 0.6 0.8}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-kill.XXXXXX)}
chunk_mib=16
concurrency=8

source "$root/bench/lib.sh"
install_missing curl:curl bc:bc
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

sample_model "$regc" "$size_mib"

port=$(free_port)
"$regc" serve --models "$source_store" --listen "127.0.0.1:$port" --chunk-size "$chunk_mib" > "$work/access.log" 2>/dev/null &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/library/regc-demo/chunksums/$blob_digest"
name="127.0.0.1:$port/library/regc-demo:latest"

served() { # bytes of the blob the server sent, as logged so far (a line is logged when its response ends)
  sleep 0.5
  grep -F "/blobs/$blob_digest" "$work/access.log" | awk '{s += $NF} END {printf "%.0f\n", s}'
}
pull() { "$regc" pull "$name" --insecure --models "$work/out" --concurrency "$concurrency" "$@"; }

echo "timing a full pull..." >&2
rm -rf "$work/out"
start=$(date +%s.%N)
pull >/dev/null
full=$(echo "$(date +%s.%N) - $start" | bc)
before=$(served)
echo "full pull: ${full} s" >&2

rows=()
for point in $points; do
  rm -rf "$work/out"
  sync
  delay=$(echo "$full * $point" | bc)
  "$regc" pull "$name" --insecure --models "$work/out" --concurrency "$concurrency" >/dev/null 2>&1 &
  pid=$! # regc itself (not a subshell), so that kill -9 reaches it
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sent_before_kill=$(( $(served) - before ))
  pull > "$work/resume.log"
  after=$(served)
  sent_after=$(( after - before - sent_before_kill ))
  before=$after
  [ "sha256:$(sha256sum "$work/out/blobs/sha256-${blob_digest#sha256:}" | cut -d' ' -f1)" = "$blob_digest" ] || { echo "wrong bytes" >&2; exit 1; }
  extra=$(( sent_before_kill + sent_after - blob_size ))
  rows+=("$(awk -v p="$point" -v d="$delay" -v k="$sent_before_kill" -v a="$sent_after" -v e="$extra" \
    'BEGIN { printf "| %.0f%% (%.2f s) | %.0f | %.0f | %.1f |", p * 100, d, k / 1048576, a / 1048576, e / 1048576 }')")
  echo "killed at ${delay} s: ${rows[-1]}" >&2
done

echo
echo "$(machine), ${size_mib} MiB blob from regc serve (${chunk_mib} MiB chunks), --concurrency $concurrency, full pull ${full} s"
echo "bound: concurrency x chunk size = $(( concurrency * chunk_mib )) MiB"
echo
echo "| killed at | MiB sent before the kill | MiB sent to the resumed pull | MiB sent again (beyond the blob) |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
