#!/bin/bash
# A reload of a 20,000-route file (about 3 MB) while intake is driven
# (README, Performance). Needs a release build: cargo build --release --bins
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-./target/release/alvares}
DIR=$(mktemp -d)
PORT=${PORT:-3917}
printf '[settings]\nSLACK_CHANNELS = "#deploys"\n' > $DIR/alvares.toml
env -i PORT=$PORT DB_URL=$DIR/alvares.db ALVARES_CONFIG=$DIR/alvares.toml ADMIN_TOKEN=t \
  HTTP_WORKERS=2 RUST_LOG=warn $BIN > $DIR/log 2>&1 &
PID=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/readyz && break; sleep 0.1; done
put() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT -H 'Content-Type: application/json' \
  --data @tests/fixtures/deployment.json http://127.0.0.1:$PORT/api/v1/deployment; }
summary() { awk '{n++; s+=$2; if($2>m)m=$2; c[$1]++} END {printf "  %d requests, mean %.4fs, max %.4fs, statuses:", n, s/n, m; for(k in c) printf " %s x%d", k, c[k]; print ""}'; }
echo "intake before the reload (20 PUTs):"; for i in $(seq 1 20); do put; done | summary
# the file: 20,000 routes
{ printf '[settings]\nSLACK_CHANNELS = "#deploys"\n'
  for i in $(seq 0 19999); do
    printf '\n[[routes]]\nname = "route %d"\nkinds = ["deployment"]\nwhen = { applicationName = "app-%d-*", cluster = "active" }\nslack_channels = ["#team-%d"]\n' $i $i $i
  done; } > $DIR/next.toml
mv $DIR/next.toml $DIR/alvares.toml
echo "file: $(stat -c %s $DIR/alvares.toml) bytes"
( while [ ! -e $DIR/stop ]; do put; done > $DIR/during ) &
LOOP=$!
sleep 0.3
curl -s -o /dev/null -w 'reload: %{http_code} in %{time_total}s\n' -X POST -H 'Authorization: Bearer t' \
  http://127.0.0.1:$PORT/admin/reload
sleep 0.3
touch $DIR/stop; wait $LOOP
echo "intake during the reload:"; summary < $DIR/during
/usr/bin/time -f "check-config: %es, max RSS %MKB" $BIN check-config $DIR/alvares.toml > /dev/null
kill -TERM $PID; wait $PID; echo "exit $?"
rm -rf $DIR
