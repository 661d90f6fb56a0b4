#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster for the casebook tests and print its SQLAlchemy URL.
#
#   export ATTENDANCE_CORE_TEST_PG="$(bash .ci/postgres.sh)"
#
# Installs Debian's postgresql when no server is on the machine, creates a cluster owned by the
# postgres user in $ATTENDANCE_CORE_PG_DIR (default /tmp/attendance-core-pg), listening on
# 127.0.0.1:$ATTENDANCE_CORE_PG_PORT (default 54329) only, with trust authentication (a local
# test server, never a deployment), and a database attendance_core_test. Run again, it reuses a
# cluster that is already up. Only the URL goes to stdout; everything else to stderr.
# Stop it with: pg_ctl -D "$ATTENDANCE_CORE_PG_DIR" stop (as the postgres user).
set -euo pipefail

data="${ATTENDANCE_CORE_PG_DIR:-/tmp/attendance-core-pg}"
port="${ATTENDANCE_CORE_PG_PORT:-54329}"
db=attendance_core_test

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin="$(find_bin)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "postgres.sh: installing postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q postgresql >&2
    bin="$(find_bin)"
fi

# run as the postgres user when we are root (the server refuses to run as root)
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres.sh: reusing the cluster in $data" >&2
else
    rm -rf "$data"
    mkdir -p "$data"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$data"; fi
    chmod 700 "$data"
    as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync >&2
    as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
        -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
fi

if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db" >&2
fi

echo "postgresql+psycopg://postgres@127.0.0.1:$port/$db"
