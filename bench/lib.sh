# Shared helpers of the bench scripts (sourced). Callers set $work and $blob_digest.
#
# SHA_EXT=off masks the CPU's SHA extensions from OpenSSL (OPENSSL_ia32cap, read by openssl and by .NET's
# crypto alike), so a machine with SHA-NI measures like the target machine without it (AVX2 SHA-256 instead).
if [ "${SHA_EXT:-on}" = off ]; then export OPENSSL_ia32cap=":~0x20000000"; fi
sha_note() { [ "${SHA_EXT:-on}" = off ] && echo ", SHA extensions masked (SHA_EXT=off)" || true; }
declare -A results
install_missing() { # command:package...: installs (apt-get) the packages of the commands this machine lacks
  local need=() tool
  for tool in "$@"; do command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}"); done
  if [ ${#need[@]} -gt 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
build_regc() { # source-tree output-folder: a Release (native) build of regc
  echo "building regc (Release) from $1..." >&2
  dotnet publish "$1/src/RegistryClient.Cli" -c Release -o "$2" >/dev/null
}
sample_model() { # regc size_mib: a demo store under $work; sets source_store, blob, blob_digest and blob_size
  echo "generating a $2 MiB sample model..." >&2
  TMPDIR="$work" "$1" demo --size "$2" --keep > "$work/demo.log"
  source_store=$(sed -n 's/^kept //p' "$work/demo.log")/registry
  blob=$(ls -S "$source_store"/blobs/* | head -1)
  blob_digest="sha256:$(basename "$blob" | cut -d- -f2)"
  blob_size=$(stat -c %s "$blob")
}
measure() { # name command...: appends "seconds rss_kib" to results[name]
  local name=$1; shift
  rm -rf "$work/out"; mkdir -p "$work/out"
  sync
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { echo "$name failed:" >&2; cat "$work/err" >&2; exit 1; }
  results[$name]+="$(cat "$work/time");"
  echo "  $name: $(cut -d' ' -f1 "$work/time") s" >&2
}
pull_kept() { # name command...: measures a pull into $work/out and sets its blob aside for check_kept
  measure "$@"
  keep "$work/out/blobs/sha256-${blob_digest#sha256:}"
}
machine() { # "2 cores, <CPU model>"
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
}
check() { # file: fail unless it hashes to the blob digest
  [ "sha256:$(sha256sum "$1" | cut -d' ' -f1)" = "$blob_digest" ] || { echo "wrong bytes in $1" >&2; exit 1; }
}
# A measured command's output is checked after all runs, not between them: reading 1 GiB back from disk between two
# measured commands slowed the next one by about 10% on this VM (its host reclaims guest memory after disk I/O).
keep() { # file: set it aside for check_kept
  mkdir -p "$work/kept"
  mv "$1" "$work/kept/$(ls "$work/kept" | wc -l)"
}
check_kept() { # checks and removes every file set aside by keep
  for f in "$work"/kept/*; do check "$f"; rm -f "$f"; done
}
median() { # field number: the median of that field over the ';'-separated results on stdin
  tr ';' '\n' | awk 'NF' | cut -d' ' -f"$1" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}
reference() { # "name|name...": the largest of their medians (the floor is max(one-core SHA-256, raw transfer))
  local IFS='|' best=0 n m
  for n in $1; do
    m=$(echo "${results[$n]}" | median 1)
    best=$(awk -v a="$best" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
  done
  echo "$best"
}
floor_note() { # "name|name...": one line naming the floor's parts and their medians
  local IFS='|' n parts=()
  for n in $1; do parts+=("$n $(echo "${results[$n]}" | median 1) s"); done
  local joined; joined=$(printf '%s, ' "${parts[@]}")
  echo "floor = max(${joined%, }) = $(reference "$1") s"
}
table() { # "reference[|reference...]" bytes "x <reference> header" name...: the markdown table of medians, ratios to the reference (the largest median of those named)
  local reference=$1 bytes=$2 header=$3; shift 3
  local ref; ref=$(reference "$reference")
  echo "| tool | median s | $header | MB/s | peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|"
  for n in "$@"; do
    local s rss
    s=$(echo "${results[$n]}" | median 1)
    rss=$(echo "${results[$n]}" | median 2)
    awk -v n="$n" -v s="$s" -v f="$ref" -v b="$bytes" -v r="$rss" \
      'BEGIN { printf "| %s | %.2f | %.2f | %.0f | %.0f |\n", n, s, s / f, b / s / 1e6, r / 1024 }'
  done
}

# A docker-registry (distribution v2) on loopback holding a model with one random SIZE_MIB layer, twice: as
# library/bench (Ollama's media types) and library/bench-oci (the standard layer type, which skopeo takes). Runs every
# command through $net (empty, or `ip netns exec NAME` to run inside a network namespace). Sets registry_pid, base,
# blob_digest, blob_size and blob_url; the caller stops the registry.
docker_registry_with_model() { # size_mib [port]
  local port=${2:-$(free_port)}
  cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port, secret: bench}
YML
  ${net:-} docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 100); do ${net:-} curl -fs "$base/v2/" >/dev/null && break; sleep 0.1; done

  echo "generating a $1 MiB blob..." >&2
  head -c "$(($1 * 1048576))" /dev/urandom > "$work/blob"
  blob_digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
  blob_size=$(stat -c %s "$work/blob")
  printf '{"model_format":"gguf","rootfs":{"type":"layers","diff_ids":[]}}' > "$work/config"
  echo "pushing to docker-registry on $base..." >&2
  push_model library/bench application/vnd.docker.container.image.v1+json application/vnd.ollama.image.model
  push_model library/bench-oci application/vnd.docker.container.image.v1+json application/vnd.docker.image.rootfs.diff.tar.gzip
  blob_url="$base/v2/library/bench/blobs/$blob_digest"
}
push_blob() { # repo file: pushed to $base as one monolithic upload
  local location digest
  digest="sha256:$(sha256sum "$2" | cut -d' ' -f1)"
  location=$(${net:-} curl -fsS -X POST -D - -o /dev/null "$base/v2/$1/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case "$location" in http*) ;; *) location="$base$location" ;; esac
  case "$location" in *\?*) location="$location&digest=$digest" ;; *) location="$location?digest=$digest" ;; esac
  ${net:-} curl -fsS -X PUT -H 'Content-Type: application/octet-stream' -T "$2" "$location" -o /dev/null
}
push_model() { # repo config-type layer-type: $work/config and $work/blob, tagged latest
  push_blob "$1" "$work/config"
  push_blob "$1" "$work/blob"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"%s","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
    "$2" "$(sha256sum "$work/config" | cut -d' ' -f1)" "$(stat -c %s "$work/config")" "$3" "$blob_digest" "$blob_size" > "$work/manifest"
  ${net:-} curl -fsS -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' --data-binary "@$work/manifest" \
    "$base/v2/$1/manifests/latest" -o /dev/null
}
