#!/bin/bash
# Dashboards beside deliveries (README, Performance): usage: bench/reads.sh <label> <readers: 0 or 16>
# READERS_NICE=19: wrk (the dashboards' stand-in) at the lowest priority, as if on
# another machine; needs $BENCH_DIR/store.db (seed_insights seed --deployments 300000), wrk and release builds
set -u
label=$1; readers=$2
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/reads-bench}
cp $dir/store.db $dir/$label.db; rm -f $dir/$label.db-wal $dir/$label.db-shm
DB_URL=$dir/$label.db RUST_LOG=warn PORT=3031 SLACK_WEB_HOOK=http://127.0.0.1:4010/hook \
  RATE_LIMITS=slack=none,slack-channel=none ./target/release/alvares > $dir/$label.server.log 2>&1 &
server=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:3031/readyz >/dev/null && break; sleep 0.1; done
# the WAL's size, every 250 ms
( max=0; while kill -0 $server 2>/dev/null; do s=$(stat -c %s $dir/$label.db-wal 2>/dev/null || echo 0); [ $s -gt $max ] && max=$s && echo $max > $dir/$label.walmax; sleep 0.25; done ) &
watcher=$!
if [ "$readers" -gt 0 ]; then
  nice -n ${READERS_NICE:-0} wrk -t2 -c$readers -d40s -s bench/reads.lua http://127.0.0.1:3031 > $dir/$label.wrk 2>&1 &
  wrkpid=$!
  sleep 5
fi
./target/release/loadgen --url http://127.0.0.1:3031 --connections 8 --seconds 20 --rate 200 --sink-port 4010 > $dir/$label.loadgen 2>&1
[ "$readers" -gt 0 ] && wait $wrkpid
grep -E 'VmRSS|VmHWM' /proc/$server/status > $dir/$label.rss
echo "wal after: $(stat -c %s $dir/$label.db-wal)" >> $dir/$label.rss
kill $server; wait $server 2>/dev/null
kill $watcher 2>/dev/null
echo "== $label"; cat $dir/$label.loadgen; [ "$readers" -gt 0 ] && cat $dir/$label.wrk; cat $dir/$label.rss; echo "wal max: $(cat $dir/$label.walmax 2>/dev/null)"
