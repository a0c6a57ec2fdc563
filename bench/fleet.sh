#!/usr/bin/env bash
# Fleet benchmark: N machines pull the same model at once, straight from docker-registry or through one
# `regc serve --pull-through` in front of it. For each N: the bytes docker-registry sent (summed from its access log)
# and the wall time until the last pull finished. Each pull writes its own store (as N machines would); the cache
# starts empty for each N. Prints a markdown table. UPSTREAM=regc puts a `regc serve` of the model (which gives chunk
# digests, so the cache serves each chunk as soon as it is verified) between docker-registry and everything else.
#
# usage: [UPSTREAM=docker-registry|regc] bench/fleet.sh [SIZE_MIB=1024] ["N..."="1 2 4 8"]
set -euo pipefail
size_mib=${1:-1024}
counts=${2:-"1 2 4 8"}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-fleet.XXXXXX)}

source "$root/bench/lib.sh"
install_missing docker-registry:docker-registry curl:curl
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

registry_pid=
cache_pid=
trap '[ -n "$registry_pid" ] && kill $registry_pid 2>/dev/null; [ -n "$cache_pid" ] && kill $cache_pid 2>/dev/null; rm -rf "$work"' EXIT

# docker-registry with its access log on (the lib's helper turns it off): the log counts what the upstream sent.
port=$(free_port)
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port, secret: bench}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
base="http://127.0.0.1:$port"
upstream="127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/v2/" >/dev/null && break; sleep 0.1; done
echo "generating a $size_mib MiB blob..." >&2
head -c "$((size_mib * 1048576))" /dev/urandom > "$work/blob"
blob_digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
blob_size=$(stat -c %s "$work/blob")
printf '{"model_format":"gguf","rootfs":{"type":"layers","diff_ids":[]}}' > "$work/config"
push_model library/bench application/vnd.docker.container.image.v1+json application/vnd.ollama.image.model

upstream_log="$work/registry.log"
if [ "${UPSTREAM:-docker-registry}" = regc ]; then
  echo "pulling the model into the upstream regc serve's store..." >&2
  "$regc" pull "$upstream/library/bench:latest" --insecure --models "$work/origin" >/dev/null
  origin_port=$(free_port)
  "$regc" serve --models "$work/origin" --listen "127.0.0.1:$origin_port" >"$work/origin.log" 2>/dev/null &
  origin_pid=$!
  trap '[ -n "$registry_pid" ] && kill $registry_pid 2>/dev/null; [ -n "$cache_pid" ] && kill $cache_pid 2>/dev/null; kill $origin_pid 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$origin_port/healthz" >/dev/null && break; sleep 0.1; done
  upstream="127.0.0.1:$origin_port"
  upstream_log="$work/origin.log"
fi

sent_since() { # line: body bytes of blob GETs the upstream logged after that line of its log
  tail -n +"$(($1 + 1))" "$upstream_log" | grep '"GET /v2/library/bench/blobs/' \
    | sed -nE 's/.*" [0-9]{3} ([0-9]+)( .*)?$/\1/p' | awk '{s += $1} END {print s + 0}'
}
log_lines() { wc -l < "$upstream_log"; }

pulls() { # n registry-host: n pulls at once into $work/client-<i>; prints the wall time in seconds
  local n=$1 host=$2 i pids=() start
  rm -rf "$work"/client-*
  sync
  start=$(date +%s.%N)
  for i in $(seq "$n"); do
    "$regc" pull "$host/library/bench:latest" --insecure --models "$work/client-$i" >"$work/pull-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || { echo "pull $((i + 1)) failed:" >&2; cat "$work/pull-$((i + 1)).log" >&2; exit 1; }; done
  awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'
  for i in $(seq "$n"); do
    [ "$(sha256sum "$work/client-$i/blobs/sha256-${blob_digest#sha256:}" | cut -d' ' -f1)" = "${blob_digest#sha256:}" ] \
      || { echo "pull $i: the blob does not hash to its digest" >&2; exit 1; }
  done
}

rows=()
for n in $counts; do
  echo "N=$n: straight from the upstream..." >&2
  mark=$(log_lines)
  direct_time=$(pulls "$n" "$upstream")
  direct_bytes=$(sent_since "$mark")

  echo "N=$n: through regc serve --pull-through..." >&2
  rm -rf "$work/cache"
  cache_port=$(free_port)
  "$regc" serve --models "$work/cache" --listen "127.0.0.1:$cache_port" --pull-through "$upstream" --insecure >"$work/cache.log" 2>&1 &
  cache_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$cache_port/healthz" >/dev/null && break; sleep 0.1; done
  mark=$(log_lines)
  cache_time=$(pulls "$n" "127.0.0.1:$cache_port")
  cache_bytes=$(sent_since "$mark")
  kill "$cache_pid"; wait "$cache_pid" 2>/dev/null || true; cache_pid=

  rows+=("| $n | $direct_time | $(awk -v b="$direct_bytes" -v s="$blob_size" 'BEGIN { printf "%.2f", b / s }') | $cache_time | $(awk -v b="$cache_bytes" -v s="$blob_size" 'BEGIN { printf "%.2f", b / s }') |")
  echo "  direct $direct_time s, $direct_bytes bytes from the registry; cache $cache_time s, $cache_bytes bytes" >&2
done
rm -rf "$work"/client-* "$work/cache"

echo
echo "$(machine), ${size_mib} MiB blob, upstream ${UPSTREAM:-docker-registry}, N pulls at once on loopback, each into its own store"
echo
echo "| N | straight: wall s | straight: upstream bytes / blob | through the cache: wall s | through the cache: upstream bytes / blob |"
echo "|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
