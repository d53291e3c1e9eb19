#!/bin/sh
# Soak test (issue 7): TENANTS tenants (default 1000), each enrolled with its own client
# certificate, each running tunnels for SECONDS (default 60) with random small (1 B–16 KiB) and
# large (1–8 MiB) transfers through an echo backend, every byte compared. Prints the loadgen's
# JSON report (tunnels, bytes, corrupted bytes, lost connections, set-up p50/p99/max) and the
# gateway's CPU time and peak memory. Not a CI test: it takes a few minutes.
#
# Usage: sh bench/soak.sh [TENANTS] [SECONDS]
set -eu
tenants=${1:-1000}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet -p cloudgate -p cloudgate-bench
cg="$root/target/release/cloudgate"
lg="$root/target/release/cloudgate-loadgen"
work=$(mktemp -d)
pids=
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
[ -n "${SOAK_KEEP_LOG:-}" ] && trap 'cp "$work/gw.log" "$SOAK_KEEP_LOG"; cleanup' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export CLOUDGATE_HOME="$work/sp"
mkdir -m 700 "$CLOUDGATE_HOME"
printf 'licensed_to = "Soak Test"\n' >"$work/license.toml"
"$cg" sp license install "$work/license.toml" >/dev/null
"$cg" sp cert generate --key-type ecdsa-p256 --apply >/dev/null
thumb=$("$cg" sp cert current --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["thumbprint"])')
"$cg" sp cert export "$thumb" --format pem --out "$work/sp.pem" >/dev/null
"$lg" echo --listen 127.0.0.1:0 >"$work/echo.addr" & pids="$pids $!"
sleep 0.3
echo_addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/echo.addr")
printf 'soak password 1\n' >"$work/pw"
echo "creating $tenants tenants with an echo service each..." >&2
start=$(date +%s)
i=0
while [ "$i" -lt "$tenants" ]; do
  "$cg" sp tenant add "t$i" --password-file "$work/pw" >/dev/null
  "$cg" sp tenant service add "t$i" echo "$echo_addr" >/dev/null
  i=$((i + 1))
done
echo "  $(( $(date +%s) - start )) s" >&2
printf 'listen = "127.0.0.1:0"\nmax_connections = 16384\nidle_timeout_secs = 120\n' >"$work/gw.toml"
"$cg" sp gateway run --config "$work/gw.toml" >"$work/gw.addr" 2>"$work/gw.log" & gw=$!; pids="$pids $gw"
for _ in $(seq 50); do [ -s "$work/gw.addr" ] && break; sleep 0.1; done
gw_addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/gw.addr")
target="--target $gw_addr --server-cert $work/sp.pem --service echo --sources 64"
echo "enrolling $tenants client certificates..." >&2
# shellcheck disable=SC2086
"$lg" enroll $target --prefix t --password-file "$work/pw" --count "$tenants" --out "$work/ids" >/dev/null
cpu_before=$(awk '{print $14 + $15}' "/proc/$gw/stat")
echo "soaking for $seconds s..." >&2
# shellcheck disable=SC2086
report=$("$lg" soak $target --identities "$work/ids" --count "$tenants" --seconds "$seconds")
cpu_after=$(awk '{print $14 + $15}' "/proc/$gw/stat")
hz=$(getconf CLK_TCK)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$gw/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$gw/status")
panics=$(grep -c panicked "$work/gw.log" || true)
echo "$report"
echo "{\"gateway_cpu_seconds\": $(( (cpu_after - cpu_before) / hz )), \"gateway_peak_rss_kib\": $peak, \"gateway_rss_after_kib\": $rss, \"gateway_panics\": $panics}"
