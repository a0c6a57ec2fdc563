# Shared helpers of the bench scripts (sourced). Callers set $work and $blob_digest.
declare -A results
measure() { # name command...: appends "seconds rss_kib" to results[name]
  local name=$1; shift
  rm -rf "$work/out"; mkdir -p "$work/out"
  sync
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { echo "$name failed:" >&2; cat "$work/err" >&2; exit 1; }
  results[$name]+="$(cat "$work/time");"
}
check() { # file: fail unless it hashes to the blob digest
  [ "sha256:$(sha256sum "$1" | cut -d' ' -f1)" = "$blob_digest" ] || { echo "wrong bytes in $1" >&2; exit 1; }
}
median() { # field number: the median of that field over the ';'-separated results on stdin
  tr ';' '\n' | awk 'NF' | cut -d' ' -f"$1" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}
