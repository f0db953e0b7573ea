#!/usr/bin/env bash
# Run the test suite against PostgreSQL: a throw-away cluster on loopback, removed on exit.
#
#   scripts/pg_test.sh                    # the whole suite but the `long` tests, as `make test`
#   scripts/pg_test.sh tests/test_x.py    # these instead (any pytest arguments)
#
# Every workspace a test opens (in-process, or in a child `python -m imint.cli`) gets a database
# of its own on this server (tests/db_support.py); tests marked `sqlite_only` (about the imint.db
# file itself) are skipped with their reason.
#
# Needs Debian's postgresql (apt-get install -y postgresql) and imint[postgres] in .venv
# (or PYTHON=/path/to/python). The cluster runs as an unprivileged user (initdb refuses root):
# `postgres` when run as root, else the caller. Tests read IMINT_DATABASE_URL (the application's
# role, owner of one database per test workspace) and IMINT_TEST_ADMIN_URL (a superuser, used
# only by the test fixtures to create those databases and the roles of tests/test_postgres.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PORT=${IMINT_PG_PORT:-55432}
[ -x "$PG_BIN/initdb" ] || { echo "pg_test: no PostgreSQL server binaries (apt-get install -y postgresql)" >&2; exit 2; }

as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi
tmp=$(mktemp -d /tmp/imint-pg.XXXXXX)
chmod 0755 "$tmp"
[ "${#as_pg[@]}" -eq 0 ] || chown postgres: "$tmp"
cleanup() {
  # The server's CPU time (its own and its ended backends'): with pytest's, what the pass costs CI.
  local pid
  if pid=$(head -n 1 "$tmp/data/postmaster.pid" 2>/dev/null) && [ -r "/proc/$pid/stat" ]; then
    awk -v hz="$(getconf CLK_TCK)" '{printf "pg_test: the PostgreSQL server used %.0f s of CPU\n", ($14+$15+$16+$17)/hz}' \
      "/proc/$pid/stat" >&2
  fi
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

admin_pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
app_pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$admin_pw" >"$tmp/pw"
[ "${#as_pg[@]}" -eq 0 ] || chown postgres: "$tmp/pw"
# C.UTF-8: byte-order sorting, the same as SQLite's default, so ORDER BY name agrees on both.
"${as_pg[@]}" "$PG_BIN/initdb" -D "$tmp/data" -U imint_admin --pwfile="$tmp/pw" \
  --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$tmp/initdb.log"
# Durability is not under test here: fsync off makes CREATE DATABASE per test workspace fast.
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
  -o "-k $tmp -h 127.0.0.1 -p $PORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null
PGPASSWORD=$admin_pw "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U imint_admin -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE imint LOGIN PASSWORD '$app_pw'" \
  -c "CREATE DATABASE imint OWNER imint"

export IMINT_DATABASE_URL="postgresql+psycopg://imint:$app_pw@127.0.0.1:$PORT/imint"
export IMINT_TEST_ADMIN_URL="postgresql+psycopg://imint_admin:$admin_pw@127.0.0.1:$PORT/postgres"
if [ "$#" -eq 0 ]; then
  set -- -m "not long"
fi
"$PYTHON" -m pytest -q "$@"
