#!/usr/bin/env bash
# Dossier vs PostGraphile 4 and 5 vs the SQL floor, interleaved, on the peer harness (bench/peers).
#
# Usage (as root, from anywhere):   bench/run.sh
# Env (all optional):
#   SCALES="1 10"        data scales (harness gen_data.sh SCALE: 10 tenants x 2000*SCALE customers)
#   CONCURRENCY="8 32"   wrk connections (= in-flight requests) / pgbench clients
#   DURATION=15          measured seconds per run (<= 600; each run also has a 3 s discarded warm-up)
#   REPS=2               repetitions of the whole interleaved sequence per scale
#   PEERS_SRC=<repo>/bench/peers       the harness (copied to PEERS before it runs)
#   PEERS=/tmp/peerbench                where the harness copy runs (pgdata/, run/, logs/, results/)
#   DOSSIER_BIN=<repo>/target/release/dossier   (the default is rebuilt with `cargo build --release -p api` first)
#   DOSSIER_PORT=8080    Dossier listens on 127.0.0.1:$DOSSIER_PORT
#   KEEP_UP=1            leave PostgreSQL running at the end (servers are always stopped)
#   INSTALL=1            force the harness's install.sh (otherwise only when wrk/postgraphile are missing)
#
# Per scale: harness data (gen_data.sh) -> Dossier copy (bench/load_dossier.sh) -> PostGraphile and
# Dossier started -> same-data check -> REPS x for each concurrency:
#     for Q1, Q2, Q3: Dossier, PostGraphile 4, PostGraphile 5;
#     Q1-without-personal-fields Dossier, SQL floor plain, SQL floor rls
# (bench sales removed after every Q3 run; Dossier's audit events are kept). Labels
# sSCALE/target/query/cC/rREP. Results: this run's JSON lines in bench/results/<run id>/results.jsonl,
# the table in bench/results/<run id>/summary.md (printed at the end; see bench/README.md), and
# Dossier's time per request phase in each of its runs in bench/results/<run id>/phases.md.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
SCALES=${SCALES:-"1 10"}
CONCURRENCY=${CONCURRENCY:-"8 32"}
DURATION=${DURATION:-15}
REPS=${REPS:-2}
PEERS_SRC=${PEERS_SRC:-$BENCH/peers}
PEERS=${PEERS:-/tmp/peerbench}
DOSSIER_BIN_GIVEN=${DOSSIER_BIN:-}
DOSSIER_BIN=${DOSSIER_BIN:-$REPO/target/release/dossier}
DOSSIER_PORT=${DOSSIER_PORT:-8080}
DOSSIER_URL=http://127.0.0.1:$DOSSIER_PORT/graphql
[[ "$DURATION" =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 1 ] && [ "$DURATION" -le 600 ] || { echo "DURATION must be 1..600"; exit 2; }
[[ "$REPS" =~ ^[0-9]+$ ]] && [ "$REPS" -ge 1 ] && [ "$REPS" -le 20 ] || { echo "REPS must be 1..20"; exit 2; }
for s in $SCALES; do [[ "$s" =~ ^[0-9]+$ ]] && [ "$s" -ge 1 ] && [ "$s" -le 100 ] || { echo "bad scale $s"; exit 2; }; done
for c in $CONCURRENCY; do [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] && [ "$c" -le 256 ] || { echo "bad concurrency $c"; exit 2; }; done
case "$PEERS" in "$REPO"|"$REPO"/*) echo "PEERS must be outside the repository ($REPO)"; exit 2;; esac

RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH/results/$RUN_ID
mkdir -p "$OUT"
say() { echo "== $(date -u +%T) $*"; }
say "run $RUN_ID: scales [$SCALES] concurrency [$CONCURRENCY] duration ${DURATION}s reps $REPS -> $OUT"

# --- 1. the harness copy, tools, PostgreSQL ---------------------------------------------------
if [ ! -x "$PEERS/bench.sh" ]; then
  [ -d "$PEERS_SRC" ] || { echo "harness not found at $PEERS_SRC (set PEERS_SRC)"; exit 1; }
  say "copying the harness $PEERS_SRC -> $PEERS"
  mkdir -p "$PEERS"; cp -r "$PEERS_SRC"/. "$PEERS"/; chmod -R u+w "$PEERS"
fi
if [ "${INSTALL:-0}" = 1 ] || ! command -v wrk >/dev/null || [ ! -f "$PEERS/node_modules/postgraphile/package.json" ] \
   || [ ! -f "$PEERS/pg5/node_modules/postgraphile/package.json" ]; then
  say "installing the harness's tools (install.sh)"; "$PEERS/install.sh"
fi
"$PEERS/pg_start.sh"
# shellcheck disable=SC1091
. "$PEERS/env.sh"   # PGHOST/PGPORT/PGUSER/PGDATABASE=peers, JWT_SECRET, PG_HTTP_PORT, PATH
PG_URL=http://127.0.0.1:$PG_HTTP_PORT/graphql
PG5_URL=http://127.0.0.1:$PG5_HTTP_PORT/graphql

# --- 2. the Dossier binary ---------------------------------------------------------------------
# Always bring the default binary up to date (a no-op when it is), so a stale build is never measured.
if [ -z "${DOSSIER_BIN_GIVEN:-}" ]; then
  say "building Dossier (cargo build --release -p api)"
  (cd "$REPO" && nice -n 10 cargo build --release -p api)
fi
say "dossier binary: $DOSSIER_BIN ($("$DOSSIER_BIN" --version 2>/dev/null || echo '?'), built $(date -u -r "$DOSSIER_BIN" +%FT%TZ))"

# A secret of its own (>= 32 bytes); tokens are minted by `dossier token` with the same secret.
export DOSSIER_JWT_SECRET=${DOSSIER_JWT_SECRET:-dossier-bench-secret-not-for-production-0123456789}
# All load comes from one tenant, as fast as it goes: the per-tenant budget (100 requests/s by
# default, 4 at a time) is lifted above it, so that what is measured is the engine, not the
# throttle. bench/flood.sh measures the budget itself.
export DOSSIER_TENANT_RATE=${DOSSIER_TENANT_RATE:-1000000}
export DOSSIER_TENANT_BURST=${DOSSIER_TENANT_BURST:-1000000}
export DOSSIER_TENANT_CONCURRENCY=${DOSSIER_TENANT_CONCURRENCY:-1024}
export DATABASE_URL="postgres://dossier:dossier@127.0.0.1:$PGPORT/dossier"
DOSSIER_PID_FILE=$PEERS/run/dossier.pid

dossier_stop() {
  if [ -f "$DOSSIER_PID_FILE" ]; then
    local pid; pid=$(cat "$DOSSIER_PID_FILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"; for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      echo "stopped dossier pid $pid"
    fi
    rm -f "$DOSSIER_PID_FILE"
  fi
}
dossier_start() {
  dossier_stop
  DOSSIER_LISTEN=127.0.0.1:$DOSSIER_PORT RUST_LOG=${DOSSIER_RUST_LOG:-warn} \
    nohup "$DOSSIER_BIN" serve > "$PEERS/logs/dossier.log" 2>&1 &
  echo $! > "$DOSSIER_PID_FILE"
  for _ in $(seq 1 80); do
    if curl -sf -o /dev/null "http://127.0.0.1:$DOSSIER_PORT/health"; then
      say "dossier up on $DOSSIER_URL pid $(cat "$DOSSIER_PID_FILE")"; return 0; fi
    kill -0 "$(cat "$DOSSIER_PID_FILE")" 2>/dev/null || { echo "dossier died:"; cat "$PEERS/logs/dossier.log"; return 1; }
    sleep 0.25
  done
  echo "dossier did not come up"; cat "$PEERS/logs/dossier.log"; return 1
}
servers_stop() {
  dossier_stop || true
  "$PEERS/postgraphile_stop.sh" >/dev/null 2>&1 || true
  "$PEERS/postgraphile5_stop.sh" >/dev/null 2>&1 || true
}
trap 'servers_stop' EXIT
trap 'exit 130' INT TERM

# This run's lines of the harness's results.jsonl are copied out at the end.
mkdir -p "$PEERS/results"; touch "$PEERS/results/results.jsonl"
START_LINE=$(($(wc -l < "$PEERS/results/results.jsonl") + 1))

cleanup_q3() {
  psql -XqAt -d peers -c "DELETE FROM app.audit_log WHERE entity='sale' AND entity_id IN (SELECT id FROM app.sales WHERE sku='BENCH-SKU'); DELETE FROM app.sales WHERE sku='BENCH-SKU';" -c 'VACUUM ANALYZE app.sales, app.audit_log'
  # Dossier: the sales go, their audit events stay (audit_events is append-only, and they are the point).
  psql -XqAt -d dossier -c "DELETE FROM sales WHERE sku='BENCH-SKU'" -c 'VACUUM ANALYZE sales'
}

bench() { # PID LABEL URL TOKEN QUERYFILE CONC  (the harness's bench.sh; its sanity line dropped)
  SERVER_PID=$1 LABEL=$2 "$PEERS/bench.sh" "$3" "$4" "$5" "$DURATION" "$6" | { grep -v '^sanity response' || true; }
}

scrape() { # FILE: Dossier's /metrics now (the phase histograms are differenced per run, bench/phases.py)
  curl -s "http://127.0.0.1:$DOSSIER_PORT/metrics" > "$1"
}

gql() { # URL TOKEN QUERYFILE -> response body
  "$PEERS/queries/mkbody.sh" "$3" | curl -s -XPOST -H 'content-type: application/json' -H "authorization: Bearer $2" --data @- "$1"
}

for SCALE in $SCALES; do
  say "scale $SCALE: loading data"
  servers_stop
  "$PEERS/gen_data.sh" "$SCALE"
  "$PEERS/tokens.sh" >/dev/null
  # shellcheck disable=SC1091
  . "$PEERS/run/ids.env"
  "$BENCH/load_dossier.sh" "$SCALE" | sed 's/^/  /'
  cp "$BENCH/results/load_dossier_scale$SCALE.txt" "$PEERS/results/load_scale$SCALE.txt" "$OUT/" 2>/dev/null || true

  "$PEERS/postgraphile_start.sh"
  "$PEERS/postgraphile5_start.sh"
  "$PEERS/verify_isolation.sh" | tail -1
  dossier_start
  DOSSIER_PID=$(cat "$DOSSIER_PID_FILE"); PG_PID=$(cat "$PEERS/run/postgraphile.pid")
  PG5_PID=$(cat "$PEERS/run/postgraphile5.pid")
  "$DOSSIER_BIN" token --tenant "$TENANT_A" --role agent --ttl 86400 --sub bench --purpose benchmark > "$PEERS/run/dossier_token_a"
  DTOKEN=$(cat "$PEERS/run/dossier_token_a"); PTOKEN=$(cat "$PEERS/run/token_a")

  # Token and queries work, and both servers return the same rows in the same order.
  me=$(curl -s -XPOST -H 'content-type: application/json' -H "authorization: Bearer $DTOKEN" \
         --data '{"query":"{ me { actor tenantId role } }"}' "$DOSSIER_URL")
  echo "dossier token check: $me"
  grep -q "\"tenantId\":\"$TENANT_A\"" <<<"$me" || { echo "dossier token check failed"; exit 1; }
  for q in q1 q2 q1_nopii; do gql "$DOSSIER_URL" "$DTOKEN" "$BENCH/queries/$q.graphql" > "$OUT/s${SCALE}_dossier_$q.json"; done
  for q in q1 q2; do
    gql "$PG_URL" "$PTOKEN" "$PEERS/queries/postgraphile/$q.graphql" > "$OUT/s${SCALE}_postgraphile_$q.json"
    gql "$PG5_URL" "$PTOKEN" "$PEERS/queries/postgraphile/$q.graphql" > "$OUT/s${SCALE}_postgraphile5_$q.json"
  done
  for peer in postgraphile postgraphile5; do
    python3 "$BENCH/same_data.py" "$OUT/s${SCALE}_dossier_q1.json" "$OUT/s${SCALE}_${peer}_q1.json" \
      "$OUT/s${SCALE}_dossier_q2.json" "$OUT/s${SCALE}_${peer}_q2.json" "$OUT/s${SCALE}_dossier_q1_nopii.json"
  done

  for rep in $(seq 1 "$REPS"); do
    for c in $CONCURRENCY; do
      for q in q1 q2 q3; do
        say "s$SCALE r$rep c$c $q: dossier, postgraphile 4, postgraphile 5"
        scrape "$OUT/metrics_s${SCALE}_${q}_c${c}_r${rep}_before.txt"
        bench "$DOSSIER_PID" "s$SCALE/dossier/$q/c$c/r$rep" "$DOSSIER_URL" "$DTOKEN" "$BENCH/queries/$q.graphql" "$c"
        scrape "$OUT/metrics_s${SCALE}_${q}_c${c}_r${rep}_after.txt"
        python3 "$BENCH/phases.py" "$OUT/metrics_s${SCALE}_${q}_c${c}_r${rep}_before.txt" \
          "$OUT/metrics_s${SCALE}_${q}_c${c}_r${rep}_after.txt" "s$SCALE $q c$c r$rep" >> "$OUT/phases.md"
        [ "$q" = q3 ] && cleanup_q3
        bench "$PG_PID" "s$SCALE/postgraphile/$q/c$c/r$rep" "$PG_URL" "$PTOKEN" "$PEERS/queries/postgraphile/$q.graphql" "$c"
        [ "$q" = q3 ] && cleanup_q3
        bench "$PG5_PID" "s$SCALE/postgraphile5/$q/c$c/r$rep" "$PG5_URL" "$PTOKEN" "$PEERS/queries/postgraphile/$q.graphql" "$c"
        [ "$q" = q3 ] && cleanup_q3
      done
      say "s$SCALE r$rep c$c q1_nopii (dossier), floors"
      bench "$DOSSIER_PID" "s$SCALE/dossier/q1_nopii/c$c/r$rep" "$DOSSIER_URL" "$DTOKEN" "$BENCH/queries/q1_nopii.graphql" "$c"
      for m in plain rls; do
        LABEL="s$SCALE/floor-$m/q1/c$c/r$rep" "$PEERS/floor.sh" "$DURATION" "$c" "$m"
      done
    done
  done
  kill -0 "$DOSSIER_PID" 2>/dev/null || { echo "dossier is no longer running:"; tail -50 "$PEERS/logs/dossier.log"; exit 1; }
  # How Dossier ran the operations: compiled to SQL, or on the resolvers.
  curl -s "http://127.0.0.1:$DOSSIER_PORT/metrics" | grep '^dossier_graphql_operations_total' \
    | sed "s/^/scale $SCALE: /" | tee "$OUT/executors_s$SCALE.txt"
  psql -XAt -d dossier -c "SELECT 'dossier audit_events after scale $SCALE: '||count(*)||' rows, '||pg_size_pretty(pg_total_relation_size('audit_events')) FROM audit_events"
  servers_stop
  cp "$PEERS/logs/dossier.log" "$OUT/dossier_s$SCALE.log" 2>/dev/null || true
done

tail -n +"$START_LINE" "$PEERS/results/results.jsonl" > "$OUT/results.jsonl"
python3 "$BENCH/report.py" "$OUT/results.jsonl" --runs > "$OUT/summary.md"
say "done: $OUT/summary.md"
say "Dossier's time per request phase, per run (the warm-up included): $OUT/phases.md"
grep -E '^\| s[0-9]+ q2 ' "$OUT/phases.md" || true
python3 "$BENCH/report.py" "$OUT/results.jsonl"
if [ "${KEEP_UP:-0}" != 1 ]; then "$PEERS/down.sh"; fi
