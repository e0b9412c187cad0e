#!/usr/bin/env bash
# CI: the API document is the contract. Starts the given Alvares binary on
# a free port with an embedded SQLite store in a temporary folder, and runs
# Schemathesis (every check, `.ci/schemathesis.toml`) against its
# /api/openapi.json. Any failure fails the script, but the documented
# Idempotency-Key reuse (`.ci/schemathesis_hooks.py`). The service is
# stopped however the script ends.
#
#   .ci/schemathesis.sh target/release/alvares
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:?usage: .ci/schemathesis.sh <alvares binary>}
[ -x "$binary" ] || { echo "schemathesis: $binary is not an executable" >&2; exit 2; }

# Schemathesis from PyPI, at the pinned versions, in a virtualenv of its
# own (made again when the pins change).
venv=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
requirements=.ci/schemathesis-requirements.txt
if [ ! -x "$venv/bin/st" ] || ! cmp -s "$requirements" "$venv/pinned.txt"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-input -r "$requirements"
    cp "$requirements" "$venv/pinned.txt"
fi

work=$(mktemp -d)
service=""
stop() {
    if [ -n "$service" ] && kill -0 "$service" 2>/dev/null; then
        kill -TERM "$service" 2>/dev/null || true
        wait "$service" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A fresh admin token: Schemathesis reads it from the environment
# (schemathesis.toml), so it is on no command line and in no log.
ALVARES_ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
export ALVARES_ADMIN_TOKEN

# No integration configured: every subscriber but the database is
# `unconfigured` and nothing leaves the machine. The limits are raised so
# that the run is not throttled: reads a second (503 past them), bodies up
# to 4 MiB.
env -i PATH="$PATH" HOME="$work" \
    PORT="$port" \
    DB_URL="$work/alvares.db" \
    ADMIN_TOKEN="$ALVARES_ADMIN_TOKEN" \
    HEAVY_READS_PER_SECOND=1000000 \
    MAX_BODY_BYTES=4194304 \
    RUST_LOG=warn \
    "$binary" >"$work/service.log" 2>&1 &
service=$!

for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    kill -0 "$service" 2>/dev/null || { cat "$work/service.log" >&2; echo "schemathesis: the service did not start" >&2; exit 1; }
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz"

started=$(date +%s)
status=0
"$venv/bin/st" --config-file .ci/schemathesis.toml run \
    "http://127.0.0.1:$port/api/openapi.json" \
    --checks all --workers 1 --no-color || status=$?
echo "schemathesis: $(($(date +%s) - started)) s"

if ! kill -0 "$service" 2>/dev/null; then
    echo "schemathesis: the service died during the run" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "schemathesis: failed; the service's log:" >&2
    tail -n 50 "$work/service.log" >&2
fi
exit "$status"
