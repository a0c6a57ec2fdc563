#!/usr/bin/env bash
# Verify benchmark: `regc verify` over a store of many blobs beside the references on the same files: sha256sum and
# openssl dgst one file after another (one core), and openssl dgst on all cores (xargs -P nproc), the all-core
# SHA-256 rate verify should come near; and `regc verify --fast` (fingerprints recorded by a first full verify)
# beside `cat` of the same files, the rate at which they can be read at all. The files are read from the page cache
# in every run (warmed first).
#
# usage: bench/verify.sh [BLOBS=16] [BLOB_MIB=64] [RUNS=5]        SHA_EXT=off masks SHA-NI (see lib.sh)
set -euo pipefail
blobs=${1:-16}
blob_mib=${2:-64}
runs=${3:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /var/tmp/regc-verify.XXXXXX)}
trap 'rm -rf "$work"' EXIT

source "$root/bench/lib.sh"
install_missing /usr/bin/time:time curl:curl
build_regc "$root" "$work/regc"
regc="$work/regc/regc"

echo "generating a store of $blobs blobs of $blob_mib MiB..." >&2
store="$work/store"
mkdir -p "$store/blobs"
for i in $(seq "$blobs"); do # distinct pseudo-random bytes, named by their digest (no manifests: all orphans, still hashed)
  openssl enc -aes-128-ctr -pass "pass:regc-$i" -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c $((blob_mib << 20)) > "$work/blob" || true
  mv "$work/blob" "$store/blobs/sha256-$(sha256sum "$work/blob" | cut -d' ' -f1)"
done
total=$(du -cb "$store"/blobs/* | tail -1 | cut -f1)
cat "$store"/blobs/* > /dev/null
"$regc" verify --models "$store" > /dev/null # records the fingerprints verify --fast compares with

for run in $(seq "$runs"); do
  echo "run $run/$runs" >&2
  measure "sha256sum (one core)" sha256sum "$store"/blobs/*
  measure "openssl dgst -sha256 (one core)" openssl dgst -sha256 "$store"/blobs/*
  measure "openssl dgst -sha256, xargs -P $(nproc) (all cores)" bash -c "ls '$store'/blobs/* | xargs -P $(nproc) -n 1 openssl dgst -sha256"
  measure "regc verify" "$regc" verify --models "$store"
  measure "cat (reading only)" cat "$store"/blobs/*
  measure "regc verify --fast" "$regc" verify --fast --models "$store"
done

echo
echo "$(machine), $blobs blobs of $blob_mib MiB ($((total >> 20)) MiB) from the page cache, median of $runs runs$(sha_note)"
echo
table "openssl dgst -sha256, xargs -P $(nproc) (all cores)" "$total" "x all-core openssl" \
  "sha256sum (one core)" "openssl dgst -sha256 (one core)" "openssl dgst -sha256, xargs -P $(nproc) (all cores)" "regc verify" "regc verify --fast"
echo
table "cat (reading only)" "$total" "x cat" "cat (reading only)" "regc verify --fast"
