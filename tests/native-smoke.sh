#!/usr/bin/env bash
# The native (ahead-of-time compiled) regc that `dotnet publish` makes: built from this checkout, it serves a generated
# model and pulls it back with JSON progress, verifies with a JSON report, and answers the registry's JSON endpoints:
# the paths where a native build differs from the JIT one the test suite runs (no reflection-based JSON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

dotnet publish "$root/src/RegistryClient.Cli" -c Release -o "$work/bin" >"$work/publish.log" 2>&1 || { cat "$work/publish.log"; exit 1; }
regc="$work/bin/regc"
[ "$(head -c 4 "$regc" | tail -c 3)" = "ELF" ] || { echo "native-smoke: $regc is not a native executable"; exit 1; }

export HOME="$work/home" TMPDIR="$work"
mkdir -p "$HOME"
"$regc" demo --size 32 --keep >"$work/demo.log"
store=$(sed -n 's/^kept //p' "$work/demo.log")/registry
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$regc" serve --models "$store" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

fail() { echo "native-smoke: $1"; exit 1; }
curl -fs "http://127.0.0.1:$port/v2/_catalog" | grep -q '"repositories":\["library/regc-demo"\]' || fail "catalog"
curl -fs "http://127.0.0.1:$port/v2/library/regc-demo/tags/list" | grep -q '"tags":\["latest"\]' || fail "tags"
curl -s "http://127.0.0.1:$port/v2/library/nope/manifests/latest" | grep -q '"code":"MANIFEST_UNKNOWN"' || fail "error body"
"$regc" pull "127.0.0.1:$port/library/regc-demo" --insecure --models "$work/pulled" --json | tail -1 | grep -q '"status":"success"' || fail "pull --json"
"$regc" verify --models "$work/pulled" --json | grep -q '"healthy":true' || fail "verify --json"
echo "native-smoke: $(du -h "$regc" | cut -f1) native regc: served, pulled with --json, verified with --json"
