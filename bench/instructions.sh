#!/usr/bin/env bash
# Server-side CPU instructions per request, counted by valgrind's callgrind: repeatable to a
# fraction of a percent whatever else the machine does, so it compares two builds of Dossier
# where wall-clock runs on this shared 2-core machine cannot.
#
#   bench/instructions.sh BINARY [REQUESTS] [QUERY]     (QUERY: q1, q2, q1_nopii; default q1)
#
# Needs the harness's PostgreSQL with Dossier's data and token, as `KEEP_UP=1 bench/run.sh`
# leaves them (database `dossier` on 127.0.0.1:55432, `$PEERS/run/dossier_token_a`). Starts
# the binary under callgrind with one worker, sends 5 warm-up requests, counts REQUESTS more,
# and prints the mean.
set -euo pipefail
BIN=$(realpath "$1"); N=${2:-20}; Q=${3:-q1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-/tmp/peerbench}
PORT=${DOSSIER_PORT:-8080}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)"; exit 1; }
OUT=$(mktemp -d /tmp/dossier-instructions.XXXXXX)
export DATABASE_URL=postgres://dossier:dossier@127.0.0.1:55432/dossier
export DOSSIER_JWT_SECRET=${DOSSIER_JWT_SECRET:-dossier-bench-secret-not-for-production-0123456789}
DOSSIER_LISTEN=127.0.0.1:$PORT RUST_LOG=warn DOSSIER_WORKERS=1 \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" serve > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && break; sleep 0.5; done
TOKEN=$(cat "$PEERS/run/dossier_token_a")
BODY=$(python3 - "$REPO/bench/queries/$Q" <<'PY'
import json, os, sys
base = sys.argv[1]
variables = json.load(open(base + ".vars.json")) if os.path.exists(base + ".vars.json") else {}
print(json.dumps({"query": open(base + ".graphql").read(), "variables": variables}))
PY
)
send() {
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/graphql" \
    -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$BODY")
  [ "$code" = 200 ] || { echo "request failed: HTTP $code"; exit 1; }
}
for _ in 1 2 3 4 5; do send; done
callgrind_control -i on "$PID" >/dev/null 2>&1
for _ in $(seq 1 "$N"); do send; done
callgrind_control -i off "$PID" >/dev/null 2>&1
callgrind_control -d "$PID" >/dev/null 2>&1
sleep 1
TOTAL=$(cat "$OUT"/callgrind.out* | awk '/^(summary|totals):/ { s += $2 } END { print s }')
echo "$(basename "$BIN") $Q: $((TOTAL / N)) instructions per request (mean of $N; profile in $OUT)"
