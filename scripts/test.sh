#!/usr/bin/env bash
# Runs Dossier's whole test suite: the unit tests and the black-box API tests, on SQLite and on
# a real PostgreSQL server that this script starts itself (a private cluster in a temporary
# directory, on a free loopback port) and stops afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# A private PostgreSQL cluster with the two roles the README tells operators to create.
source scripts/pg-cluster.sh
start_private_cluster test.sh

export DOSSIER_TEST_PG_ADMIN_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export DOSSIER_TEST_PG_OWNER_URL="postgres://dossier_owner:dossier_owner@127.0.0.1:$PORT"
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
missing=""
for dep in $(node -e 'console.log(Object.keys(require("./tests/console/package.json").dependencies).join(" "))'); do
  [ -d "tests/console/node_modules/$dep" ] || missing="$missing $dep"
done
if [ -n "$missing" ]; then
  echo "test.sh: installing the Node test tooling (npm ci in tests/console):$missing" >&2
  npm ci --prefix "tests/console" --no-audit --no-fund --silent
fi

LOG="$PGTMP/cargo-test.log"
cargo test --workspace --all-targets "$@" 2>&1 | tee "$LOG"
# One closing line for the whole run: the sum over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "Total: %d passed, %d failed\n", p, f }' "$LOG"
