#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory, pg_ctl on a loopback
# port, run as an unprivileged user (PostgreSQL refuses to run as root).
#   scripts/test-postgres.sh start   starts it if it is not running; prints the URL tests connect with
#   scripts/test-postgres.sh stop    stops it and deletes its directory
#   scripts/test-postgres.sh url     prints the URL
# The tests' role `custos` logs in over TCP with a password (scram-sha-256) and may create databases:
# each test gets a database of its own. The password is a test fixture, not a secret.
set -euo pipefail
PORT="${CUSTOS_TEST_PG_PORT:-55432}"
ROOT="${CUSTOS_TEST_PG_DIR:-/tmp/custos-test-postgres-$PORT}"
PASSWORD="custos-test-only"
URL="postgres://custos@127.0.0.1:$PORT/postgres"

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$dir" ]; then
    echo "PostgreSQL is not installed (apt-get install postgresql)" >&2
    exit 1
  fi
  echo "$dir"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The server must not inherit this script's output: a caller reading it to the end would wait forever.
# track_commit_timestamp, track_wal_io_timing: the ClusterLoad benchmark reads commit times and WAL flush
# times to measure the tip row's hold.
start_server() {
  as_owner "$(bin_dir)/pg_ctl" -D "$ROOT/data" -l "$ROOT/server.log" -w -t 60 start \
    -o "-p $PORT -k $ROOT -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on -c synchronous_commit=on -c shared_buffers=128MB -c track_commit_timestamp=on -c track_wal_io_timing=on" \
    </dev/null >/dev/null 2>>"$ROOT/pg_ctl.err"
}

running() { [ -f "$ROOT/data/postmaster.pid" ] && as_owner "$(bin_dir)/pg_ctl" -D "$ROOT/data" status >/dev/null 2>&1; }

case "${1:-}" in
  start)
    BIN=$(bin_dir)
    if ! running; then
      rm -rf "$ROOT"
      mkdir -p "$ROOT"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$ROOT"
      as_owner "$BIN/initdb" -D "$ROOT/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-instructions >"$ROOT/initdb.log" 2>&1 \
        || { cat "$ROOT/initdb.log" >&2; exit 1; }
      start_server || { cat "$ROOT/pg_ctl.err" "$ROOT/server.log" >&2; exit 1; }
      as_owner "$BIN/psql" -h "$ROOT" -p "$PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE custos LOGIN CREATEDB PASSWORD '$PASSWORD'" >/dev/null
    fi
    echo "$URL"
    ;;
  stop)
    if running; then as_owner "$(bin_dir)/pg_ctl" -D "$ROOT/data" -m fast -w stop >/dev/null; fi
    rm -rf "$ROOT"
    ;;
  url) echo "$URL" ;;
  password) echo "$PASSWORD" ;;
  # Stops the server as a crash would (tests of an outage), keeping its data.
  kill) as_owner "$(bin_dir)/pg_ctl" -D "$ROOT/data" -m immediate -w stop >/dev/null ;;
  resume) start_server || { cat "$ROOT/pg_ctl.err" "$ROOT/server.log" >&2; exit 1; } ;;
  *) echo "usage: $0 start|stop|url|password|kill|resume" >&2; exit 2 ;;
esac
