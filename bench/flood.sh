#!/usr/bin/env bash
# The flood benchmark (invariant 9: no tenant can starve another). Starts the release build of
# Dossier on SQLite (the embedded default) or, with BACKEND=postgres, on a private PostgreSQL
# cluster set up like production (two roles), creates two tenants with a little data, then
# lets one tenant flood the server with the worst request its limits allow while the other's
# latency for `{ me }` and a small query is measured, before and during the flood. Prints one
# table. A benchmark, not a test: figures vary with the machine.
#
# Usage: bench/flood.sh            Env: BACKEND=sqlite|postgres  SECONDS_PER_PHASE=10
#                                       CONNECTIONS=64 (the attacker's)  PORT=18181
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${BACKEND:-sqlite}
SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-10}
CONNECTIONS=${CONNECTIONS:-64}
LISTEN_PORT=${PORT:-18181}

cargo build --release -q -p api
cargo build --release -q -p tests --example flood
BIN=target/release/dossier
FLOOD=target/release/examples/flood
WORK=$(mktemp -d /tmp/dossier-flood.XXXXXX)
SERVER_PID=

finish() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}

export DOSSIER_JWT_SECRET=flood-bench-secret-0123456789-abcdefghij
export DOSSIER_AUDIT_KEY=flood-bench-audit-key-0123456789-abcdefghij
export DOSSIER_LISTEN=127.0.0.1:$LISTEN_PORT
export RUST_LOG=warn
case "$BACKEND" in
  sqlite)
    export DATABASE_URL="sqlite://$WORK/dossier.db?mode=rwc"
    trap finish EXIT
    ;;
  postgres)
    source scripts/pg-cluster.sh
    start_private_cluster flood.sh
    trap 'finish; stop_private_cluster' EXIT
    "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
      -c "CREATE DATABASE dossier OWNER dossier_owner"
    export DOSSIER_OWNER_DATABASE_URL="postgres://dossier_owner:dossier_owner@127.0.0.1:$PORT/dossier"
    export DATABASE_URL="postgres://dossier:dossier@127.0.0.1:$PORT/dossier"
    ;;
  *) echo "BACKEND must be sqlite or postgres" >&2; exit 2 ;;
esac

tenant() { "$BIN" tenants create --name "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
ATTACKER=$(tenant "Flooding Tenant")
VICTIM=$(tenant "Quiet Tenant")
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
URL=http://127.0.0.1:$LISTEN_PORT/graphql
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$LISTEN_PORT/health" >/dev/null && break; sleep 0.1; done

token() { "$BIN" token --tenant "$1" --role agent --sub "flood-$2" --ttl 3600; }
ATTACKER_TOKEN=$(token "$ATTACKER" attacker)
VICTIM_TOKEN=$(token "$VICTIM" victim)

# A little data in each tenant: 40 customers with a sale each.
seed() {
  for i in $(seq 1 40); do
    id=$(curl -sf "$URL" -H "authorization: Bearer $1" -H 'content-type: application/json' \
      -d "{\"query\":\"mutation { createCustomer(input: {name: \\\"Customer $i\\\", country: \\\"FR\\\"}) { id } }\"}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createCustomer"]["id"])')
    curl -sf "$URL" -H "authorization: Bearer $1" -H 'content-type: application/json' \
      -d "{\"query\":\"mutation { createSale(input: {customerId: \\\"$id\\\", sku: \\\"S\\\", amount: \\\"$i.50\\\", currency: \\\"EUR\\\"}) { id } }\"}" >/dev/null
  done
}
seed "$ATTACKER_TOKEN"
seed "$VICTIM_TOKEN"

echo "Flood benchmark: $BACKEND, $SECONDS_PER_PHASE s per phase, attacker on $CONNECTIONS connections, $(nproc) cores, $(git rev-parse --short HEAD)"
"$FLOOD" "$URL" "$ATTACKER_TOKEN" "$VICTIM_TOKEN" "$SECONDS_PER_PHASE" "$CONNECTIONS"
