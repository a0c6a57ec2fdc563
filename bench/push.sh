#!/usr/bin/env bash
# Push benchmark: a model with one random SIZE_MIB layer from one docker-registry (distribution v2) to a second one on
# loopback. regc pulls it once into a store, then pushes it (a new repository each run, so every blob goes up again),
# beside skopeo copy registry to registry (of the same blob with the standard layer type) and one monolithic curl PUT
# of the blob (the raw upload). Then a regc push interrupted by SIGINT halfway is run again: the second run's upload
# counts as what the interruption cost. Prints a markdown table of medians.
#
# usage: bench/push.sh [SIZE_MIB=1024] [RUNS=3]
set -euo pipefail
size_mib=${1:-1024}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-push.XXXXXX)}

source "$root/bench/lib.sh"
install_missing docker-registry:docker-registry skopeo:skopeo curl:curl /usr/bin/time:time
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

registry_pid=
target_pid=
trap '[ -n "$registry_pid" ] && kill $registry_pid 2>/dev/null; [ -n "$target_pid" ] && kill $target_pid 2>/dev/null; rm -rf "$work"' EXIT
docker_registry_with_model "$size_mib"
source_registry=${base#http://}

# The target: a second docker-registry, started empty again before each measured push (so nothing is mounted or
# already there: skopeo remembers where blobs were and would mount them from an earlier run's repository).
target_port=$(free_port)
target="127.0.0.1:$target_port"
cat > "$work/target.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/target}, delete: {enabled: true}}
http: {addr: $target, secret: bench}
YML
fresh_target() {
  if [ -n "$target_pid" ]; then kill "$target_pid" 2>/dev/null; wait "$target_pid" 2>/dev/null || true; fi
  rm -rf "$work/target"
  docker-registry serve "$work/target.yml" > "$work/target.log" 2>&1 &
  target_pid=$!
  for _ in $(seq 100); do curl -fs "http://$target/v2/" >/dev/null && break; sleep 0.1; done
}

echo "pulling the model into a store..." >&2
"$regc" pull "$source_registry/library/bench:latest" --insecure --models "$work/store" > /dev/null
cat "$work/blob" > /dev/null

raw_put() { # repo: one monolithic upload of the blob (POST, then PUT with the whole body)
  local location
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$target/v2/$1/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case "$location" in http*) ;; *) location="http://$target$location" ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' -T "$work/blob" "$location&digest=$blob_digest" -o /dev/null
}
export -f raw_put
export target work blob_digest

measure_push() { # name command...: like measure, into a fresh target, without touching $work/out
  local name=$1; shift
  fresh_target
  sync
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { echo "$name failed:" >&2; cat "$work/err" >&2; exit 1; }
  results[$name]+="$(cat "$work/time");"
  echo "  $name: $(cut -d' ' -f1 "$work/time") s" >&2
}

for run in $(seq "$runs"); do
  echo "run $run/$runs" >&2
  measure_push "curl PUT (raw monolithic upload)" bash -c "raw_put raw/run$run"
  measure_push "regc push" "$regc" push "$source_registry/library/bench:latest" --to "$target/regc/run$run:latest" --insecure --models "$work/store"
  measure_push "skopeo copy (registry to registry)" skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
    "docker://$source_registry/library/bench-oci:latest" "docker://$target/skopeo/run$run:latest"
done

# Interrupted halfway by SIGINT (Ctrl-C), then run again: the chunk in flight finishes, the rest goes in the second run.
# (Started through python so that SIGINT is not ignored, as bash leaves it for background jobs of a script.)
echo "interrupted push..." >&2
fresh_target
full=$(echo "${results[regc push]}" | median 1)
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
  "$regc" push "$source_registry/library/bench:latest" --to "$target/regc/interrupted:latest" --insecure --models "$work/store" > /dev/null 2>&1 &
pid=$!
sleep "$(awk -v f="$full" 'BEGIN { print f / 2 }')"
kill -INT "$pid"
wait "$pid" || true
record=$(find "$work/store/.regc/push" -type f | head -1)
recorded=$( [ -n "$record" ] && sed -n 2p "$record" || echo 0)
start=$(date +%s.%N)
"$regc" push "$source_registry/library/bench:latest" --to "$target/regc/interrupted:latest" --insecure --models "$work/store" > "$work/resumed.txt"
resumed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')

echo
echo "$(machine), ${size_mib} MiB blob, docker-registry to docker-registry on loopback, median of $runs runs"
echo
table "curl PUT (raw monolithic upload)" "$blob_size" "x raw upload" \
  "curl PUT (raw monolithic upload)" "regc push" "skopeo copy (registry to registry)"
echo
echo "Interrupted by SIGINT at $(awk -v f="$full" 'BEGIN { printf "%.2f", f / 2 }') s: $((recorded / 1048576)) MiB acknowledged and recorded;"
echo "the second run took $resumed s: $(tail -1 "$work/resumed.txt" | sed 's/^pushed [^ ]* //')"
