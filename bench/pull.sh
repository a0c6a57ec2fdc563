#!/usr/bin/env bash
# End-to-end pull benchmark: regc against the floor, max(one-core SHA-256 of the hot blob (openssl dgst), the raw
# unverified transfer (curl -o /dev/null)), and against curl + sha256sum, aria2c -x16 + sha256sum and skopeo copy,
# all pulling the same blob from a docker-registry (distribution v2) on loopback. Prints a markdown table of medians
# and ratios to the floor.
#
# usage: bench/pull.sh [SIZE_MIB=1024] [RUNS=5]
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-bench.XXXXXX)}

source "$root/bench/lib.sh"
install_missing docker-registry:docker-registry aria2c:aria2 skopeo:skopeo curl:curl /usr/bin/time:time
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

registry_pid=
trap '[ -n "$registry_pid" ] && kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
docker_registry_with_model "$size_mib"
registry=${base#http://}

cat "$work/blob" > /dev/null
for run in $(seq "$runs"); do
  echo "run $run/$runs" >&2
  measure "openssl dgst -sha256 (hot file)" openssl dgst -sha256 "$work/blob"
  measure "curl -o /dev/null (raw transfer)" curl -fsS -o /dev/null "$blob_url"
  pull_kept "regc pull" "$regc" pull "$registry/library/bench:latest" --insecure --models "$work/out"
  measure "curl + sha256sum" bash -c "curl -fsS -o '$work/out/blob' '$blob_url' && sha256sum '$work/out/blob'"
  measure "aria2c -x16 + sha256sum" bash -c "aria2c -q -x16 -s16 --file-allocation=none -d '$work/out' -o blob '$blob_url' && sha256sum '$work/out/blob'"
  measure "skopeo copy" skopeo copy -q --src-tls-verify=false "docker://$registry/library/bench-oci:latest" "dir:$work/out/skopeo"
done
rm -rf "$work/out"
check_kept

echo
floor="openssl dgst -sha256 (hot file)|curl -o /dev/null (raw transfer)"
echo "$(machine), ${size_mib} MiB blob, median of $runs runs$(sha_note)"
echo "$(floor_note "$floor")"
echo
table "$floor" "$blob_size" "x floor" \
  "openssl dgst -sha256 (hot file)" "curl -o /dev/null (raw transfer)" "regc pull" "curl + sha256sum" "aria2c -x16 + sha256sum" "skopeo copy"
