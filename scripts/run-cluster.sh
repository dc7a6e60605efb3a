#!/usr/bin/env bash
# `make run-cluster`: a throwaway PostgreSQL and three custosd nodes on loopback ports sharing it.
# Development only: the database, the root passphrase and every key live under ./cluster and die with it.
set -euo pipefail
bin="$1"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CUSTOS_TEST_PG_PORT=55440 CUSTOS_TEST_PG_DIR=/tmp/custos-cluster-postgres
server=$(scripts/test-postgres.sh start)
export CUSTOS_DATABASE_PASSWORD=$(scripts/test-postgres.sh password)
database="custos_cluster"
PGPASSWORD=$CUSTOS_DATABASE_PASSWORD psql "$server" -X -qtAc "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1 \
  || PGPASSWORD=$CUSTOS_DATABASE_PASSWORD psql "$server" -X -qc "CREATE DATABASE $database"
url="${server%/postgres}/$database"
mkdir -p cluster
chmod 700 cluster
passphrase=cluster/root-passphrase
[ -f "$passphrase" ] || (umask 077; head -c 24 /dev/urandom | base64 > "$passphrase")

pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/test-postgres.sh stop
  echo "cluster stopped (its database is gone; ./cluster keeps the keys of a database that no longer exists: remove it)"
}
trap stop EXIT INT TERM

start_node() {
  local n=$1; shift
  mkdir -p "cluster/node$n/keys"
  chmod 700 "cluster/node$n/keys"
  "$bin/custosd" --store postgres --database-url "$url" --listen "127.0.0.1:745$n" --http-listen "127.0.0.1:748$n" \
    --keys-dir "cluster/node$n/keys" --policies-dir policies --root-passphrase-file "$passphrase" "$@" \
    2> >(sed "s/^/[node$n] /" >&2) &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:748$n/healthz" >/dev/null && return; sleep 0.1; done
  echo "node $n did not start" >&2
  exit 1
}

start_node 1 --auto-init
# The others unseal the root key the first one created, and with it the ledger key sealed in the database.
for n in 2 3; do start_node "$n"; done

cat <<MSG

  Three custosd nodes on one PostgreSQL database ($url):
    gRPC 127.0.0.1:7451  127.0.0.1:7452  127.0.0.1:7453    HTTP 127.0.0.1:7481 ... 7483 (/healthz, /metrics)

  Call any node; every node sees one log:
    export CUSTOS_CREDENTIALS=$root/cluster/node1/keys/initial-admin-credential
    CUSTOS_SERVER=127.0.0.1:7451 $bin/custos ledger append --actor 'Service::"deploy-bot"' --action deploy --resource 'App::"billing"' --outcome success
    CUSTOS_SERVER=127.0.0.1:7453 $bin/custos ledger verify
    curl -s http://127.0.0.1:7482/metrics | grep tip_lock

  Stop with Ctrl-C: the nodes and the database go away.

MSG
wait
