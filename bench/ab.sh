#!/usr/bin/env bash
# Same-run A/B of two builds of regc: both pull the same blob from one `regc serve` (built from B), in turns, through
# the chunk path and the plain path (--no-chunksums), with the floor measured in the same loop: max(one-core SHA-256
# of the hot blob (openssl dgst), the raw unverified transfer (curl -o /dev/null)). Reports medians and each build's
# ratio to the floor.
#
# usage: bench/ab.sh REV_A [REV_B=working tree] [SIZE_MIB=1024] [RUNS=5]     e.g. bench/ab.sh b5b2935 "" 1024 7
# A revision is anything `git worktree add` takes; an empty REV_B is the working tree as it is.
set -euo pipefail
rev_a=${1:?usage: bench/ab.sh REV_A [REV_B] [SIZE_MIB] [RUNS]}
rev_b=${2:-}
size_mib=${3:-1024}
runs=${4:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-ab.XXXXXX)}

source "$root/bench/lib.sh"
install_missing /usr/bin/time:time curl:curl
build() { # revision (empty: working tree) output-folder
  local source=$root
  if [ -n "$1" ]; then
    source="$work/src-$(basename "$2")"
    git -C "$root" worktree add --detach "$source" "$1" >/dev/null 2>&1
  fi
  build_regc "$source" "$2"
  [ -n "$1" ] && git -C "$root" worktree remove --force "$source" >/dev/null 2>&1 || true
}
build "$rev_a" "$work/a"
build "$rev_b" "$work/b"

sample_model "$work/b/regc" "$size_mib"

port=$(free_port)
"$work/b/regc" serve --models "$source_store" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/library/regc-demo/chunksums/$blob_digest"

name="127.0.0.1:$port/library/regc-demo:latest"
cat "$blob" > /dev/null
for run in $(seq "$runs"); do
  echo "run $run/$runs" >&2
  measure "openssl dgst -sha256 (hot file)" openssl dgst -sha256 "$blob"
  measure "curl -o /dev/null (raw transfer)" curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/library/regc-demo/blobs/$blob_digest"
  for side in a b; do
    pull_kept "$side chunk path" "$work/$side/regc" pull "$name" --insecure --models "$work/out"
    pull_kept "$side plain path" "$work/$side/regc" pull "$name" --insecure --no-chunksums --models "$work/out"
  done
done
rm -rf "$work/out"
check_kept

echo
echo "$(machine), ${size_mib} MiB blob from regc serve, median of $runs runs$(sha_note)"
echo "a = ${rev_a}, b = ${rev_b:-working tree}"
floor="openssl dgst -sha256 (hot file)|curl -o /dev/null (raw transfer)"
echo "$(floor_note "$floor")"
echo
table "$floor" "$blob_size" "x floor" "openssl dgst -sha256 (hot file)" "curl -o /dev/null (raw transfer)" \
  "a chunk path" "b chunk path" "a plain path" "b plain path"
