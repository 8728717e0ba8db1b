#!/usr/bin/env bash
# Q1 and Q2 on SQLite, the embedded default: one writer connection only (DOSSIER_SQLITE_READERS=0,
# as before read connections existed) against the default read connections, at the same
# concurrency, on the same database file. With COMPARE_BIN, two builds instead, both with the
# read connections: DOSSIER_BIN against COMPARE_BIN (an A/B of a change), alternating.
#
# Usage: bench/sqlite.sh            (needs wrk and the harness's bench.sh: run bench/run.sh once,
#                                    or bench/peers/install.sh)
# Env: CUSTOMERS=2000 (one tenant, like one tenant of the harness's scale 1), CONCURRENCY=8,
#      DURATION=10, READERS=4, DOSSIER_BIN (default: release build), PEERS=/tmp/peerbench,
#      DOSSIER_PORT=8090. Results: bench/results/sqlite-<run id>/results.txt.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
CUSTOMERS=${CUSTOMERS:-2000}
CONCURRENCY=${CONCURRENCY:-8}
DURATION=${DURATION:-10}
READERS=${READERS:-4}
PEERS=${PEERS:-/tmp/peerbench}
DOSSIER_PORT=${DOSSIER_PORT:-8090}
if [ -z "${DOSSIER_BIN:-}" ]; then
  (cd "$REPO" && nice -n 10 cargo build --release -p api)
  DOSSIER_BIN=$REPO/target/release/dossier
fi
[ -x "$PEERS/bench.sh" ] || { echo "no harness at $PEERS (run bench/run.sh or copy bench/peers there and run install.sh)"; exit 1; }
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH/results/sqlite-$RUN_ID
mkdir -p "$OUT"
WORK=$(mktemp -d)
export DATABASE_URL="sqlite://$WORK/dossier.db?mode=rwc"
export DOSSIER_JWT_SECRET=dossier-bench-secret-not-for-production-0123456789
export DOSSIER_TENANT_RATE=1000000 DOSSIER_TENANT_BURST=1000000 DOSSIER_TENANT_CONCURRENCY=1024
URL=http://127.0.0.1:$DOSSIER_PORT/graphql
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
trap 'stop; rm -rf "$WORK"' EXIT
start() { # READERS
  DOSSIER_SQLITE_READERS=$1 DOSSIER_LISTEN=127.0.0.1:$DOSSIER_PORT RUST_LOG=warn \
    "$DOSSIER_BIN" serve > "$OUT/dossier_readers$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 80); do curl -sf -o /dev/null "http://127.0.0.1:$DOSSIER_PORT/health" && return 0; sleep 0.25; done
  echo "dossier did not come up"; cat "$OUT/dossier_readers$1.log"; exit 1
}

"$DOSSIER_BIN" migrate >/dev/null
TENANT=$("$DOSSIER_BIN" tenants create --name "Bench" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
TOKEN=$("$DOSSIER_BIN" token --tenant "$TENANT" --role agent --ttl 86400 --sub bench --purpose benchmark)
start "$READERS"
echo "loading $CUSTOMERS customers (3 contacts, 5 sales each) through the API"
FIRST=$(python3 "$BENCH/sqlite_load.py" "$URL" "$TOKEN" "$CUSTOMERS")
printf '{"id":"%s"}\n' "$FIRST" > "$WORK/q2.vars.json"
cp "$BENCH/queries/q2.graphql" "$WORK/q2.graphql"
stop
{
  echo "SQLite, $CUSTOMERS customers, c=$CONCURRENCY, ${DURATION}s per run ($(date -u +%FT%TZ))"
  if [ -n "${COMPARE_BIN:-}" ]; then
    runs="A:$READERS B:$READERS A:$READERS B:$READERS"
  else
    runs="A:0 A:$READERS A:0 A:$READERS"
  fi
  BIN_A=$DOSSIER_BIN
  for run in $runs; do
    build=${run%%:*} readers=${run##*:}
    if [ "$build" = B ]; then DOSSIER_BIN=$COMPARE_BIN; else DOSSIER_BIN=$BIN_A; fi
    start "$readers"
    for q in "$BENCH/queries/q1.graphql" "$WORK/q2.graphql"; do
      SERVER_PID=$PID LABEL="sqlite/$build/readers$readers/$(basename "$q" .graphql)/c$CONCURRENCY" \
        "$PEERS/bench.sh" "$URL" "$TOKEN" "$q" "$DURATION" "$CONCURRENCY" | grep -v '^sanity'
    done
    stop
  done
} | tee "$OUT/results.txt"
