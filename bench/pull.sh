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
export DEBIAN_FRONTEND=noninteractive

need=()
for tool in docker-registry:docker-registry aria2c:aria2 skopeo:skopeo curl:curl /usr/bin/time:time; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi

source "$root/bench/lib.sh"
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

port=$(free_port)
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port, secret: bench}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"

echo "generating a ${size_mib} MiB blob..." >&2
head -c "$((size_mib * 1048576))" /dev/urandom > "$work/blob"
blob_digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
blob_size=$(stat -c %s "$work/blob")
printf '{"model_format":"gguf","rootfs":{"type":"layers","diff_ids":[]}}' > "$work/config"
config_digest="sha256:$(sha256sum "$work/config" | cut -d' ' -f1)"
config_size=$(stat -c %s "$work/config")

push_blob() { # repo file digest
  local location
  location=$(curl -fsS -X POST -D - -o /dev/null "$base/v2/$1/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case "$location" in http*) ;; *) location="$base$location" ;; esac
  case "$location" in *\?*) location="$location&digest=$3" ;; *) location="$location?digest=$3" ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' -T "$2" "$location" -o /dev/null
}
push_model() { # repo config-type layer-type
  push_blob "$1" "$work/config" "$config_digest"
  push_blob "$1" "$work/blob" "$blob_digest"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
    "$2" "$config_digest" "$config_size" "$3" "$blob_digest" "$blob_size" > "$work/manifest-$4"
  curl -fsS -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' --data-binary "@$work/manifest-$4" \
    "$base/v2/$1/manifests/latest" -o /dev/null
}
echo "pushing to docker-registry on $base..." >&2
push_model library/bench application/vnd.docker.container.image.v1+json application/vnd.ollama.image.model ollama
# skopeo refuses Ollama's media types: the same bytes under the standard layer type.
push_model library/bench-oci application/vnd.docker.container.image.v1+json application/vnd.docker.image.rootfs.diff.tar.gzip oci

blob_url="$base/v2/library/bench/blobs/$blob_digest"

cat "$work/blob" > /dev/null
for run in $(seq "$runs"); do
  echo "run $run/$runs" >&2
  measure "openssl dgst -sha256 (hot file)" openssl dgst -sha256 "$work/blob"
  measure "curl -o /dev/null (raw transfer)" curl -fsS -o /dev/null "$blob_url"
  pull_kept "regc pull" "$regc" pull "127.0.0.1:$port/library/bench:latest" --insecure --models "$work/out"
  measure "curl + sha256sum" bash -c "curl -fsS -o '$work/out/blob' '$blob_url' && sha256sum '$work/out/blob'"
  measure "aria2c -x16 + sha256sum" bash -c "aria2c -q -x16 -s16 --file-allocation=none -d '$work/out' -o blob '$blob_url' && sha256sum '$work/out/blob'"
  measure "skopeo copy" skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/library/bench-oci:latest" "dir:$work/out/skopeo"
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
