#!/usr/bin/env bash
# Intake against the trivial route, in one run: wrk (Debian's package) with
# the same 2 threads and 32 connections against a 404 and against PUT
# /api/v1/deployment (bench/intake.lua: the fixture, a new application name
# each time), on a fresh SQLite store with the default subscribers.
#   bench/intake.sh            wrk figures and their ratio
#   bench/intake.sh callgrind  instructions per accepted deployment (valgrind:
#                              repeatable whatever else the machine does)
# Needs release builds (cargo build --release --bins) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/intake-bench.XXXXXX)
port=3040
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
wait_up() {
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
    sleep 0.5
  done
  echo "the service did not start" >&2; exit 1
}
if [ "${1:-}" = callgrind ]; then
  DB_URL=$dir/store.db RUST_LOG=warn PORT=$port \
    valgrind --tool=callgrind --callgrind-out-file=$dir/cg.out ./target/release/alvares \
    > $dir/log 2>&1 &
  wait_up
  wrk -t1 -c4 -d20s -s bench/intake.lua http://127.0.0.1:$port | tee $dir/wrk
  kill -TERM %1; wait %1 || true
  total=$(callgrind_annotate $dir/cg.out | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
  requests=$(awk '/^requests/{gsub(",","",$2); print $2}' $dir/wrk)
  echo "instructions per accepted deployment (start-up included): $((total / requests))"
  exit 0
fi
DB_URL=$dir/store.db RUST_LOG=warn PORT=$port ./target/release/alvares > $dir/log 2>&1 &
wait_up
uptime
echo "== trivial route (404)"
wrk -t2 -c32 -d8s http://127.0.0.1:$port/nothing-here | tee $dir/trivial
echo "== intake"
wrk -t2 -c32 -d8s -s bench/intake.lua http://127.0.0.1:$port | tee $dir/intake
trivial=$(awk '/Requests\/sec/{print $2}' $dir/trivial)
intake=$(awk '/Requests\/sec/{print $2}' $dir/intake)
echo "intake / trivial: $(python3 -c "print(round($intake / $trivial, 2))")"
