#!/usr/bin/env bash
# CPU per request, split between the Dossier process and PostgreSQL: what a request costs
# the whole stack when the server and the database share the machine's cores.
#
#   bench/cpu_per_request.sh BINARY [QUERIES] [CONCURRENCY] [DURATION]
#       QUERIES: space-separated, from q1 q1_nopii q2 (default "q1 q1_nopii q2"); CONCURRENCY 8;
#       DURATION 10 s (each run also has its 3 s warm-up, counted in the CPU and the requests)
#
# Needs the harness's PostgreSQL with Dossier's data, as `KEEP_UP=1 bench/run.sh` leaves it
# (database `dossier` on 127.0.0.1:55432). Starts BINARY, runs each query with the harness's
# `bench.sh` (wrk), and divides the CPU time of Dossier's process, and of the postmaster and
# its children, by the requests served. A backend that exits during a run takes its CPU time
# with it: the pool keeps its connections, so this counts Dossier's backends.
set -euo pipefail
BIN=$(realpath "$1"); QUERIES=${2:-"q1 q1_nopii q2"}; C=${3:-8}; D=${4:-10}; W=3
REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-/tmp/peerbench}
PORT=${DOSSIER_PORT:-8080}
# shellcheck disable=SC1091
. "$PEERS/env.sh"
# shellcheck disable=SC1091
. "$PEERS/run/ids.env"
export DATABASE_URL=postgres://dossier:dossier@127.0.0.1:55432/dossier
export DOSSIER_JWT_SECRET=${DOSSIER_JWT_SECRET:-dossier-bench-secret-not-for-production-0123456789}
export DOSSIER_TENANT_RATE=1000000 DOSSIER_TENANT_BURST=1000000 DOSSIER_TENANT_CONCURRENCY=1024
LOG=$(mktemp /tmp/dossier-cpu.XXXXXX.log)
DOSSIER_LISTEN=127.0.0.1:$PORT RUST_LOG=warn "$BIN" serve > "$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 80); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && break; sleep 0.25; done
TOKEN=$("$BIN" token --tenant "$TENANT_A" --role agent --ttl 3600 --sub bench --purpose benchmark)
POSTMASTER=$(head -1 "$PGDATA_DIR/postmaster.pid")
ticks() { local s=0 p; for p in $(pgrep -P "$1") "$1"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$s"; }
HZ=$(getconf CLK_TCK)
printf '%-10s %5s %9s %9s %22s %22s\n' query conc 'req/s' 'p99 ms' 'PostgreSQL ms/request' 'Dossier ms/request'
for q in $QUERIES; do
  p0=$(ticks "$POSTMASTER"); d0=$(ticks "$PID")
  out=$(SERVER_PID=$PID WARMUP=$W LABEL="cpu-$q-c$C" "$PEERS/bench.sh" "http://127.0.0.1:$PORT/graphql" "$TOKEN" \
        "$REPO/bench/queries/$q.graphql" "$D" "$C" | grep -v '^sanity')
  p1=$(ticks "$POSTMASTER"); d1=$(ticks "$PID")
  requests=$(grep -o 'requests=[0-9]*' <<<"$out" | cut -d= -f2)
  rps=$(grep -o ' rps=[0-9.]*' <<<"$out" | cut -d= -f2); p99=$(grep -o 'p99_ms=[0-9.]*' <<<"$out" | cut -d= -f2)
  awk -v q="$q" -v c="$C" -v rps="$rps" -v p99="$p99" -v pg=$((p1 - p0)) -v ds=$((d1 - d0)) \
      -v n="$requests" -v d="$D" -v w="$W" -v hz="$HZ" 'BEGIN {
        served = n * (d + w) / d;  # the warm-up served at the measured rate
        printf "%-10s %5s %9s %9s %22.2f %22.2f\n", q, c, rps, p99, pg * 1000 / hz / served, ds * 1000 / hz / served }'
done
