#!/usr/bin/env bash
# Chunk-path benchmark: regc pulling a blob from `regc serve` through the chunksums path beside the foundation path
# (--no-chunksums: own ranges, whole digest only) and curl + sha256sum from the same server, against the floor:
# max(one-core SHA-256 of the hot blob (openssl dgst), the raw unverified transfer (curl -o /dev/null)).
# Every pulled blob is kept and checked after the last run (SIZE x RUNS x 2 of disk meanwhile); each run's time goes
# to stderr.
# With CHUNK_SIZES set (MiB, space-separated) it also sweeps the server's chunk size.
#
# usage: bench/chunks.sh [SIZE_MIB=1024] [RUNS=5]        e.g. CHUNK_SIZES="4 8 16 32 64" bench/chunks.sh 1024 3
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-chunks.XXXXXX)}

source "$root/bench/lib.sh"
install_missing /usr/bin/time:time curl:curl
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

sample_model "$regc" "$size_mib"

server_pid=
start_server() { # chunk size in MiB
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  port=$(free_port)
  "$regc" serve --models "$source_store" --listen "127.0.0.1:$port" --chunk-size "$1" >/dev/null 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  # The list is computed once per blob and kept as a sidecar; compute it before measuring pulls.
  curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/library/regc-demo/chunksums/$blob_digest"
}
trap '[ -n "$server_pid" ] && kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT


start_server 16
name="127.0.0.1:$port/library/regc-demo:latest"
cat "$blob" > /dev/null
for run in $(seq "$runs"); do
  echo "run $run/$runs" >&2
  measure "openssl dgst -sha256 (hot file)" openssl dgst -sha256 "$blob"
  measure "curl -o /dev/null (raw transfer)" curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/library/regc-demo/blobs/$blob_digest"
  pull_kept "regc pull, chunk path" "$regc" pull "$name" --insecure --models "$work/out"
  pull_kept "regc pull --no-chunksums (foundation path)" "$regc" pull "$name" --insecure --no-chunksums --models "$work/out"
  measure "curl + sha256sum" bash -c "curl -fsS -o '$work/out/blob' 'http://127.0.0.1:$port/v2/library/regc-demo/blobs/$blob_digest' && sha256sum '$work/out/blob'"
done

for size in ${CHUNK_SIZES:-}; do
  start_server "$size"
  name="127.0.0.1:$port/library/regc-demo:latest"
  for run in $(seq "$runs"); do
    echo "chunk size $size MiB, run $run/$runs" >&2
    measure "floor@$size" openssl dgst -sha256 "$blob"
    pull_kept "chunks@$size" "$regc" pull "$name" --insecure --models "$work/out"
  done
done
rm -rf "$work/out"
check_kept

echo
floor="openssl dgst -sha256 (hot file)|curl -o /dev/null (raw transfer)"
echo "$(machine), ${size_mib} MiB blob from regc serve (16 MiB chunks), median of $runs runs$(sha_note)"
echo "$(floor_note "$floor")"
echo
table "$floor" "$blob_size" "x floor" \
  "openssl dgst -sha256 (hot file)" "curl -o /dev/null (raw transfer)" "regc pull, chunk path" "regc pull --no-chunksums (foundation path)" "curl + sha256sum"
if [ -n "${CHUNK_SIZES:-}" ]; then
  echo
  echo "| chunk size MiB | chunks | regc median s | x openssl floor (same runs) |"
  echo "|---:|---:|---:|---:|"
  for size in $CHUNK_SIZES; do
    s=$(echo "${results[chunks@$size]}" | median 1)
    f=$(echo "${results[floor@$size]}" | median 1)
    awk -v c="$size" -v s="$s" -v f="$f" -v b="$blob_size" 'BEGIN { printf "| %d | %d | %.2f | %.2f |\n", c, b / (c * 1048576), s, s / f }'
  done
fi
