#!/bin/sh
# Runs every fuzz target (or the ones named) for SECONDS each (default 600) and prints one line
# per target: executions, corpus size, and whether it found anything.
# Needs the nightly toolchain and cargo-fuzz:  rustup toolchain install nightly && cargo install cargo-fuzz
# Usage: sh fuzz/run.sh [-t SECONDS] [target...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=600
if [ "${1:-}" = "-t" ]; then seconds=$2; shift 2; fi
targets=${*:-"pem der_certificate pkcs12 key_material license thumbprint enroll_body gateway_request rollover_proof join_token"}
cd "$here"
[ -d seeds ] || sh seed.sh
cargo +nightly fuzz build -O >/dev/null 2>&1 || { cargo +nightly fuzz build -O; exit 1; }
mkdir -p logs
printf '| target | seconds | executions | exec/s | corpus | crashes/timeouts |\n|---|---:|---:|---:|---:|---|\n'
for t in $targets; do
  mkdir -p "corpus/$t" "seeds/$t"
  # -timeout: an input that takes more than 10 s is a hang; -rss_limit_mb: a 2 GiB allocation is a bug.
  cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"logs/$t.log" 2>&1
  rc=$?
  runs=$(grep -a 'stat::number_of_executed_units' "logs/$t.log" | awk '{print $2}' | tail -1)
  rate=$(grep -a 'stat::average_exec_per_sec' "logs/$t.log" | awk '{print $2}' | tail -1)
  corpus=$(ls "corpus/$t" | wc -l)
  found=none
  [ $rc -ne 0 ] && found="FOUND (exit $rc): see fuzz/logs/$t.log and fuzz/artifacts/$t/"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" "${runs:-?}" "${rate:-?}" "$corpus" "$found"
done
