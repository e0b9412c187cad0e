#!/usr/bin/env bash
# Replicas on one PostgreSQL (README, Performance): the end-to-end delay
# (request sent -> first Slack message) with one replica and with two, in
# one run, the load spread over the replicas; then the takeover after
# kill -9 of the replica that owns slack-deployment (default LEASE_SECONDS).
#   bench/replicas.sh [rate, default 200]
# Needs release builds (cargo build --release --bins) and PostgreSQL on
# 127.0.0.1:5432 (trust auth, user postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-200}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
fresh() {
  psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS replicas_bench WITH (FORCE)" \
    -c "CREATE DATABASE replicas_bench"
}
start() { # index port
  DB_URL=postgres://postgres@127.0.0.1:5432/replicas_bench RUST_LOG=warn PORT=$2 \
    HOSTNAME=replica-$1 ADMIN_TOKEN=bench SLACK_WEB_HOOK=http://127.0.0.1:4010/hook \
    RATE_LIMITS=slack=none,slack-channel=none ./target/release/alvares \
    > /tmp/replicas-bench-$1.log 2>&1 &
  echo $!
}
owners() { # port: live replicas (with presence, owning something), what they own, who owns slack-deployment
  curl -s -H 'Authorization: Bearer bench' "http://127.0.0.1:$1/admin/actors" | python3 -c '
import json, sys
try:
    body = json.load(sys.stdin)
except ValueError:  # not answering yet
    body = {"replicas": []}
live = [r for r in body["replicas"] if r["live"] and r["presence"] and r["owns"]]
print(len(live), sum(len(r["owns"]) for r in live),
      next((r["host"] for r in live if "slack-deployment" in r["owns"]), "-"))'
}
settle() { # port replicas: every subscriber owned, each replica owning some, presence held
  for _ in $(seq 1 100); do
    read -r live owned _ < <(owners "$1")
    [ "$live" = "$2" ] && [ "$owned" -ge 9 ] && sleep 2 && return 0
    sleep 0.2
  done
  echo "replicas did not settle" >&2; exit 1
}
run() { # label urls
  echo "== $1"
  ./target/release/loadgen --url "$2" --connections 8 --rate "$rate" --seconds 10 \
    --sink-port 4010 --messages-per-event 4 --drain-seconds 20
}

fresh
a=$(start 1 3050); settle 3050 1
run "one replica, $rate deployments/s" http://127.0.0.1:3050
b=$(start 2 3051); settle 3050 2
run "two replicas, $rate deployments/s spread over both" http://127.0.0.1:3050,http://127.0.0.1:3051

read -r _ _ owner < <(owners 3050)
case $owner in *:3050) victim=$a; survivor=3051 ;; *) victim=$b; survivor=3050 ;; esac
kill -9 "$victim"
killed=$(date +%s.%N)
for _ in $(seq 1 600); do
  read -r live owned _ < <(owners $survivor)
  [ "$live" = 1 ] && [ "$owned" -ge 9 ] && break
  sleep 0.05
done
echo "takeover after kill -9 of $owner: every subscriber owned by the survivor after" \
  "$(python3 -c "print(round($(date +%s.%N) - $killed, 2))") s (LEASE_SECONDS 30)"
