#!/usr/bin/env bash
# WAN benchmark: a pull over a link shaped like the ones users pull over. Everything runs inside a network namespace
# the script creates (and removes): docker-registry on its loopback, behind bench/wanproxy.py, which delays every byte
# by half a round trip each way, charges each new connection a round trip, and caps each connection's download (as
# CDNs and proxies do). The link's total rate is shaped by the kernel: an htb class on the namespace's loopback for
# the traffic leaving the proxy. Prints, for each tool, MB/s and the share of the link's rate it used: regc with
# default settings, curl (one stream), aria2c -x16 -s16 and skopeo copy. Only regc verifies what it fetched.
#
# usage: bench/wan.sh [SIZE_MIB=1024] [RUNS=3]
#   LINK_MBPS=100   the link's rate in MB/s          CONN_MBPS=25   the cap of one connection in MB/s
#   RTT_MS=40       the round trip                    VARIANTS="-c 4;-c 16;--range-size 8M"   regc settings to compare
# Needs root (a network namespace and tc).
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-3}
link=${LINK_MBPS:-100}
conn=${CONN_MBPS:-25}
rtt=${RTT_MS:-40}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-wan.XXXXXX)}
[ "$(id -u)" = 0 ] || { echo "bench/wan.sh needs root: it creates a network namespace and shapes its loopback with tc" >&2; exit 1; }

source "$root/bench/lib.sh"
install_missing docker-registry:docker-registry aria2c:aria2 skopeo:skopeo curl:curl /usr/bin/time:time tc:iproute2 bc:bc
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

ns="regc-wan-$$"
registry_pid= proxy_pid=
cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
net="ip netns exec $ns"
$net ip link set lo up

registry_port=5000 proxy_port=5001 # a new namespace has no other listeners
docker_registry_with_model "$size_mib" "$registry_port"
$net python3 "$root/bench/wanproxy.py" "$proxy_port" "$registry_port" "$rtt" "$conn" &
proxy_pid=$!
$net tc qdisc add dev lo root handle 1: htb default 20
$net tc class add dev lo parent 1: classid 1:10 htb rate "$((link * 8))mbit" ceil "$((link * 8))mbit" quantum 200000
$net tc class add dev lo parent 1: classid 1:20 htb rate 100gbit quantum 200000
$net tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport "$proxy_port" 0xffff flowid 1:10
far="127.0.0.1:$proxy_port"
for _ in $(seq 100); do $net curl -fs "http://$far/v2/" >/dev/null && break; sleep 0.1; done
url="http://$far/v2/library/bench/blobs/$blob_digest"

IFS=';' read -r -a variants <<< "${VARIANTS:-}"
names=("regc pull (defaults)")
for run in $(seq "$runs"); do
  echo "run $run/$runs (link ${link} MB/s, ${conn} MB/s per connection, ${rtt} ms round trip)" >&2
  pull_kept "regc pull (defaults)" $net "$regc" pull "$far/library/bench:latest" --insecure --models "$work/out"
  for variant in "${variants[@]}"; do
    # shellcheck disable=SC2086 # a variant is options, split on purpose
    pull_kept "regc pull $variant" $net "$regc" pull "$far/library/bench:latest" --insecure --models "$work/out" $variant
    [ "$run" = 1 ] && names+=("regc pull $variant")
  done
  measure "curl (one stream)" $net curl -fsS -o "$work/out/blob" "$url"
  measure "aria2c -x16 -s16" $net aria2c -q -x16 -s16 --file-allocation=none -d "$work/out" -o blob "$url"
  measure "skopeo copy" $net skopeo copy -q --src-tls-verify=false "docker://$far/library/bench-oci:latest" "dir:$work/out/skopeo"
done
rm -rf "$work/out"
check_kept

echo
echo "$(machine), ${size_mib} MiB blob from docker-registry through a ${link} MB/s link (htb), ${conn} MB/s per connection, ${rtt} ms round trip; median of $runs runs"
echo
echo "| tool | median s | MB/s | share of the link |"
echo "|---|---:|---:|---:|"
for n in "${names[@]}" "curl (one stream)" "aria2c -x16 -s16" "skopeo copy"; do
  s=$(echo "${results[$n]}" | median 1)
  awk -v n="$n" -v s="$s" -v b="$blob_size" -v l="$link" 'BEGIN { printf "| %s | %.1f | %.1f | %.0f%% |\n", n, s, b / s / 1e6, 100 * b / s / 1e6 / l }'
done
