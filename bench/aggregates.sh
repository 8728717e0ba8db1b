#!/usr/bin/env bash
# The aggregates and search benchmark (issue 11): the two questions a sales team asks of its
# customer file — the top 50 customers by twelve-month spend, and the customers with no
# purchase in six months — and four searches (a common surname, an email, a reference, a
# typo), timed over HTTP against the release build, one request at a time, on one tenant at
# each scale (2,000·SCALE customers, 2 people, 10 sales and 2 interactions each), on SQLite
# (the embedded default) and on a private PostgreSQL cluster set up like production (two
# roles). Prints one table of p50/p99 in milliseconds. A benchmark, not a test.
#
# Usage: bench/aggregates.sh       Env: BACKENDS="sqlite postgres"  SCALES="1 10"  RUNS=200
#                                       PORT=18282
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS=${BACKENDS:-sqlite postgres}
SCALES=${SCALES:-1 10}
RUNS=${RUNS:-200}
LISTEN_PORT=${PORT:-18282}

cargo build --release -q -p api
cargo build --release -q -p tests --example aggregates
BIN=target/release/dossier
DRIVER=target/release/examples/aggregates
WORK=$(mktemp -d /tmp/dossier-aggregates.XXXXXX)
SERVER_PID=
CLUSTER=

finish() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$CLUSTER" ] && stop_private_cluster
  rm -rf "$WORK"
}
trap finish EXIT

export DOSSIER_JWT_SECRET=aggregates-bench-secret-0123456789-abcdefghij
export DOSSIER_AUDIT_KEY=aggregates-bench-audit-key-0123456789-abcdefghij
export DOSSIER_LISTEN=127.0.0.1:$LISTEN_PORT
export RUST_LOG=warn
# Latency, one request at a time: the per-tenant rate limit would only add refusals.
export DOSSIER_TENANT_RATE=${DOSSIER_TENANT_RATE:-1000000}
export DOSSIER_TENANT_BURST=${DOSSIER_TENANT_BURST:-1000000}

echo "Aggregates and search benchmark: $RUNS requests per query after a warm-up, $(nproc) cores, $(git rev-parse --short HEAD)"
echo
echo "| backend | scale | query | requests | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
for backend in $BACKENDS; do
  for scale in $SCALES; do
    case "$backend" in
      sqlite)
        rm -f "$WORK"/dossier.db*
        unset DOSSIER_OWNER_DATABASE_URL
        export DATABASE_URL="sqlite://$WORK/dossier.db?mode=rwc"
        ;;
      postgres)
        if [ -z "$CLUSTER" ]; then
          source scripts/pg-cluster.sh
          start_private_cluster aggregates.sh >/dev/null
          CLUSTER=1
        fi
        "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
          -c "DROP DATABASE IF EXISTS dossier" -c "CREATE DATABASE dossier OWNER dossier_owner"
        export DOSSIER_OWNER_DATABASE_URL="postgres://dossier_owner:dossier_owner@127.0.0.1:$PORT/dossier"
        export DATABASE_URL="postgres://dossier:dossier@127.0.0.1:$PORT/dossier"
        ;;
      *) echo "backends are sqlite and postgres" >&2; exit 2 ;;
    esac
    "$BIN" migrate >/dev/null 2>&1
    TENANT=$("$BIN" tenants create --name "Bench $scale" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    if [ "$backend" = postgres ]; then
      LOAD_URL="postgres://postgres@127.0.0.1:$PORT/dossier"
    else
      LOAD_URL=$DATABASE_URL
    fi
    "$DRIVER" load "$LOAD_URL" "$TENANT" "$scale" 2>"$WORK/load.log"
    [ "$backend" = postgres ] && "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d dossier -c "VACUUM ANALYZE"
    "$BIN" serve >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$LISTEN_PORT/health" >/dev/null && break; sleep 0.1; done
    TOKEN=$("$BIN" token --tenant "$TENANT" --role agent --sub bench --ttl 3600)
    if [ "$backend" = postgres ]; then
      # The first list of the day refreshes every customer's twelve-month window; in service,
      # autovacuum then analyzes the table within a minute. Measure that steady state, not
      # the minute after a bulk load with statistics that still call every row stale.
      curl -sf -o /dev/null -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d '{"query":"{ customers(first: 1) { edges { node { id } } } }"}' "http://127.0.0.1:$LISTEN_PORT/graphql"
      "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d dossier -c "ANALYZE customer_totals"
    fi
    "$DRIVER" measure "http://127.0.0.1:$LISTEN_PORT/graphql" "$TOKEN" "$RUNS" \
      | sed "s/^|/| $backend | $scale |/"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    echo "<!-- $backend scale $scale: $(cat "$WORK/load.log") -->"
  done
done
