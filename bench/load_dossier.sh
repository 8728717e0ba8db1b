#!/usr/bin/env bash
# Load the peer harness's data set into Dossier's own database, through Dossier's migrations.
#
# Usage: bench/load_dossier.sh [SCALE]
#   SCALE is informational (it labels the timings file): the rows are whatever the harness's
#   gen_data.sh last put into schema `app` of database `peers` on the same cluster.
#
# What it does, on the harness's private PostgreSQL (127.0.0.1:55432, superuser `postgres`):
#   1. role `dossier` (LOGIN, NOSUPERUSER, NOBYPASSRLS, password 'dossier'), created if missing;
#   2. database `dossier` dropped and recreated, owned by that role;
#   3. `dossier migrate` as that role (so the tables, RLS policies and triggers are Dossier's own);
#   4. COPY out of peers.app.* | COPY into dossier.* — same ids, counts and values — as
#      `postgres` (a superuser bypasses even FORCE ROW LEVEL SECURITY). Secondary indexes are
#      dropped for the copy and recreated from their own definitions afterwards; FK triggers are
#      skipped during the copy (session_replication_role = replica) and the FKs are re-checked
#      by query after it. audit_events stays empty.
#   5. VACUUM (ANALYZE) + CHECKPOINT, like the harness's gen_data.sh;
#   6. verification: per-table row counts and an order-independent fingerprint of every mapped
#      column, computed on both sides (peers, with the mapping applied; dossier, as stored).
#
# Env: DOSSIER_BIN (default: <repo>/target/release/dossier), PGHOST/PGPORT (127.0.0.1/55432),
#      RESULTS_DIR (default: bench/results; gets load_dossier_scale<S>.txt).
#
# Value mapping (harness → Dossier):
#   tenants.slug             lower(name) with non-alphanumerics → '-' ('Tenant 1' → 'tenant-1')
#   tenants.default_currency 'EUR'; created_at 2020-01-01T00:00:00Z; retention_months NULL
#   customers.country        the harness value if it is two upper-case letters, else 'FR'
#   customers.billing_line1  billing_address (one text), cut to 200 characters; other billing_* NULL
#   acquisition_channel      organic→web, paid_search→advertising, referral/partner/event (and any
#                            Dossier value) kept, NULL kept, anything else → other
#   updated_at               = created_at (customers, contacts)
#   sales.amount_scaled      amount × 10000 (exact: numeric(12,2) → bigint)
#   sales.quantity 1; contact_id, reference, external_ref NULL; created_at = sold_at
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
SCALE=${1:-1}
DOSSIER_BIN=${DOSSIER_BIN:-$REPO/target/release/dossier}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-55432}
RESULTS_DIR=${RESULTS_DIR:-$BENCH/results}
mkdir -p "$RESULTS_DIR"
out=$RESULTS_DIR/load_dossier_scale${SCALE}.txt
[ -x "$DOSSIER_BIN" ] || { echo "no Dossier binary at $DOSSIER_BIN (cargo build --release -p api)"; exit 1; }

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -U postgres)
peers() { "${PSQL[@]}" -d peers "$@"; }
dossier() { "${PSQL[@]}" -d dossier "$@"; }
now() { date +%s.%N; }
: > "$out"
log() { echo "$*" | tee -a "$out"; }
timed() { # name command...
  local name=$1 t0 t1; shift; t0=$(now); "$@"; t1=$(now)
  printf '%-26s %8.2f s\n' "$name" "$(echo "$t1 - $t0" | bc)" | tee -a "$out"
}

log "dossier load: scale=$SCALE from peers.app on $PGHOST:$PGPORT  ($(date -u +%FT%TZ))"
"${PSQL[@]}" -d peers -Atc "select 1 from information_schema.tables where table_schema='app' and table_name='sales'" | grep -q 1 \
  || { echo "peers.app is not loaded (run the harness's gen_data.sh first)"; exit 1; }
T0=$(now)

setup_db() {
  "${PSQL[@]}" -d postgres <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dossier') THEN
    CREATE ROLE dossier LOGIN PASSWORD 'dossier' NOSUPERUSER NOBYPASSRLS;
  ELSE
    ALTER ROLE dossier LOGIN PASSWORD 'dossier' NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;
DROP DATABASE IF EXISTS dossier WITH (FORCE);
CREATE DATABASE dossier OWNER dossier;
SQL
}
timed create_db setup_db

migrate() {
  DATABASE_URL="postgres://dossier:dossier@$PGHOST:$PGPORT/dossier" RUST_LOG=warn "$DOSSIER_BIN" migrate
}
timed migrate migrate

# Secondary (non-constraint) indexes of the loaded tables: drop now, recreate after the copy.
IDX_FILE=$(mktemp); trap 'rm -f "$IDX_FILE"' EXIT
dossier -At > "$IDX_FILE" <<'SQL'
SELECT pg_get_indexdef(i.indexrelid) || ';'
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND t.relname IN ('customers', 'contacts', 'sales')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
SQL
drop_indexes() {
  dossier -At <<'SQL'
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT ic.relname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = t.relnamespace
           WHERE n.nspname = 'public' AND t.relname IN ('customers', 'contacts', 'sales')
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
  LOOP EXECUTE format('DROP INDEX %I', r.relname); END LOOP;
END $$;
SQL
}
drop_indexes
log "secondary indexes dropped for the copy: $(wc -l < "$IDX_FILE")"

# The mapped SELECTs over peers.app (also used by the verification below).
SEL_TENANTS="SELECT id, name::varchar(200) AS name,
    trim(both '-' from lower(regexp_replace(name, '[^A-Za-z0-9]+', '-', 'g'))) AS slug,
    NULL::int AS retention_months, 'EUR' AS default_currency,
    timestamptz '2020-01-01 00:00:00+00' AS created_at
  FROM app.tenants"
SEL_CUSTOMERS="SELECT tenant_id, id, name, registration_number,
    CASE WHEN country ~ '^[A-Z]{2}\$' THEN country ELSE 'FR' END AS country,
    left(billing_address, 200) AS billing_line1, NULL::text AS billing_line2, NULL::text AS billing_postal_code,
    NULL::text AS billing_city, NULL::text AS billing_country,
    CASE WHEN acquisition_channel IS NULL THEN NULL
         WHEN acquisition_channel = 'organic' THEN 'web'
         WHEN acquisition_channel = 'paid_search' THEN 'advertising'
         WHEN acquisition_channel IN ('web','referral','partner','event','outbound','advertising','social','other')
           THEN acquisition_channel
         ELSE 'other' END AS acquisition_channel,
    NULL::text AS external_ref, created_at, created_at AS updated_at
  FROM app.customers"
SEL_CONTACTS="SELECT tenant_id, id, customer_id, first_name, last_name, email, phone, birthday,
    NULL::text AS job_title, NULL::text AS external_ref, created_at, created_at AS updated_at
  FROM app.contacts"
SEL_SALES="SELECT tenant_id, id, customer_id, NULL::uuid AS contact_id, NULL::text AS reference, sku,
    1 AS quantity, (amount * 10000)::bigint AS amount_scaled, currency, sold_at,
    NULL::text AS external_ref, sold_at AS created_at
  FROM app.sales"
COLS_TENANTS="id, name, slug, retention_months, default_currency, created_at"
COLS_CUSTOMERS="tenant_id, id, name, registration_number, country, billing_line1, billing_line2, billing_postal_code, billing_city, billing_country, acquisition_channel, external_ref, created_at, updated_at"
COLS_CONTACTS="tenant_id, id, customer_id, first_name, last_name, email, phone, birthday, job_title, external_ref, created_at, updated_at"
COLS_SALES="tenant_id, id, customer_id, contact_id, reference, sku, quantity, amount_scaled, currency, sold_at, external_ref, created_at"

copy_table() { # table select columns
  peers -c "COPY ($2) TO STDOUT" \
    | dossier -c "SET session_replication_role = replica" -c "COPY $1 ($3) FROM STDIN"
}
timed copy_tenants   copy_table tenants   "$SEL_TENANTS"   "$COLS_TENANTS"
timed copy_customers copy_table customers "$SEL_CUSTOMERS" "$COLS_CUSTOMERS"
timed copy_contacts  copy_table contacts  "$SEL_CONTACTS"  "$COLS_CONTACTS"
timed copy_sales     copy_table sales     "$SEL_SALES" "$COLS_SALES"
timed create_indexes dossier -f "$IDX_FILE"

check_fks() {
  local bad
  bad=$(dossier -At <<'SQL'
SELECT (SELECT count(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = c.tenant_id))
     + (SELECT count(*) FROM contacts k WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = k.tenant_id AND c.id = k.customer_id))
     + (SELECT count(*) FROM sales s WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = s.tenant_id AND c.id = s.customer_id))
SQL
)
  [ "$bad" = 0 ] || { echo "FK check failed: $bad orphan rows"; exit 1; }
}
timed check_fks check_fks
timed vacuum_analyze dossier -c "VACUUM (ANALYZE) tenants, customers, contacts, sales, audit_events"
timed checkpoint dossier -c "CHECKPOINT"

# Verification: same counts, and the same fingerprint of every column, on both sides.
fingerprint() { # "SELECT …" columns → "count:sum"
  echo "SELECT count(*) || ':' || coalesce(sum(('x' || substr(md5(ROW($2)::text), 1, 15))::bit(60)::bigint), 0)
        FROM ($1) q"
}
verify() {
  local t sel cols a b ok=1
  for t in tenants customers contacts sales; do
    case $t in
      tenants) sel=$SEL_TENANTS; cols=$COLS_TENANTS;;
      customers) sel=$SEL_CUSTOMERS; cols=$COLS_CUSTOMERS;;
      contacts) sel=$SEL_CONTACTS; cols=$COLS_CONTACTS;;
      sales) sel=$SEL_SALES; cols=$COLS_SALES;;
    esac
    # cast every column to text on both sides so varchar vs text does not change the row text
    local tcols; tcols=$(sed -E 's/ *, */::text, /g; s/$/::text/' <<<"$cols")
    a=$(peers -At -c "$(fingerprint "$sel" "$tcols")")
    b=$(dossier -At -c "$(fingerprint "SELECT * FROM $t" "$tcols")")
    if [ "$a" = "$b" ]; then log "verify $t: ${a%%:*} rows, fingerprint match"
    else log "verify $t: MISMATCH peers=$a dossier=$b"; ok=0; fi
  done
  [ "$(dossier -At -c 'SELECT count(*) FROM audit_events')" = 0 ] || { log "audit_events not empty"; ok=0; }
  [ $ok = 1 ]
}
timed verify verify
T1=$(now)
printf '%-26s %8.2f s\n' TOTAL "$(echo "$T1 - $T0" | bc)" | tee -a "$out"
dossier -At -c "SELECT 'rows: tenants='||(SELECT count(*) FROM tenants)||' customers='||(SELECT count(*) FROM customers)
   ||' contacts='||(SELECT count(*) FROM contacts)||' sales='||(SELECT count(*) FROM sales)
   ||' db_size='||pg_size_pretty(pg_database_size(current_database()))" | tee -a "$out"
