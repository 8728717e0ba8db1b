#!/usr/bin/env bash
# Runs Dossier's whole test suite: the unit tests and the black-box API tests, on SQLite and on
# a real PostgreSQL server that this script starts itself (a private cluster in a temporary
# directory, on a free loopback port) and stops afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
}

PG_BIN=$(pg_bin || true)
if [ -z "$PG_BIN" ]; then
  echo "test.sh: installing PostgreSQL 15 (Debian package postgresql-15)" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  fi
  PG_BIN=$(pg_bin)
fi

# PostgreSQL refuses to run as root: run the cluster as the `postgres` OS user then.
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  RUN_AS=(runuser -u postgres --)
fi

PGTMP=$(mktemp -d /tmp/dossier-pg.XXXXXX)
chmod 755 "$PGTMP"
[ ${#RUN_AS[@]} -gt 0 ] && chown postgres "$PGTMP"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

cleanup() {
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap cleanup EXIT

"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$PGTMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/postgres.log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGTMP -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null

# The API's role, as the README tells operators to create it: no superuser, no BYPASSRLS.
"$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE dossier LOGIN PASSWORD 'dossier' NOSUPERUSER NOBYPASSRLS CREATEDB"

export DOSSIER_TEST_PG_ADMIN_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export DOSSIER_TEST_PG_URL="postgres://dossier:dossier@127.0.0.1:$PORT"
echo "test.sh: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2

# The console test drives Debian's Chromium through playwright-core (pinned in
# tests/console/package-lock.json; it downloads no browser of its own).
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing Chromium (Debian package chromium)" >&2
  if [ "$(id -u)" = 0 ]; then
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
      || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null))
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
if [ ! -d "tests/console/node_modules/playwright-core" ]; then
  echo "test.sh: installing playwright-core (npm ci in tests/console)" >&2
  npm ci --prefix "tests/console" --no-audit --no-fund --silent
fi

LOG="$PGTMP/cargo-test.log"
cargo test --workspace --all-targets "$@" 2>&1 | tee "$LOG"
# One closing line for the whole run: the sum over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "Total: %d passed, %d failed\n", p, f }' "$LOG"
