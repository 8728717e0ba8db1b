# Starts a private PostgreSQL cluster for this script's run: a temporary directory, a free
# loopback port, stopped and removed when the script exits; with the roles the README tells
# operators to create. Sourced by scripts/test.sh and bench/flood.sh; sets PG_BIN, PORT, PGTMP.
# The argument names the calling script in messages.

pg_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
}

start_private_cluster() {
  PG_BIN=$(pg_bin || true)
  if [ -z "$PG_BIN" ]; then
    echo "$1: installing PostgreSQL 15 (Debian package postgresql-15)" >&2
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

  trap stop_private_cluster EXIT

  "${RUN_AS[@]}" "$PG_BIN/initdb" -D "$PGTMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/postgres.log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGTMP -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null

  # The two roles, as the README tells operators to create them: the owner migrates and prunes
  # the audit log; the API serves as a login role that is only a member of `dossier_runtime`,
  # which the migrations grant exactly what the API uses. Neither is superuser or BYPASSRLS.
  # (CREATEDB for the owner is the tests' own need: each test gets a database of its own.)
  "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE dossier_owner LOGIN PASSWORD 'dossier_owner' NOSUPERUSER NOBYPASSRLS CREATEDB;
CREATE ROLE dossier_runtime NOLOGIN NOSUPERUSER NOBYPASSRLS;
CREATE ROLE dossier LOGIN PASSWORD 'dossier' NOSUPERUSER NOBYPASSRLS IN ROLE dossier_runtime;
SQL
}

stop_private_cluster() {
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
