#!/usr/bin/env bash
# Starts a development custosd for `make run`: data under ./data, keys under ./keys, policies from ./policies.
set -euo pipefail
bin="$1"; listen="$2"; http="$3"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p data keys
chmod 700 keys
custos="$bin/custos"
cat <<MSG

  custosd (development) — gRPC on $listen, HTTP on $http
  data: $root/data   keys: $root/keys   policies: $root/policies

  In another terminal:
    export CUSTOS_SERVER=$listen
    $custos ledger append --actor 'Service::"deploy-bot"' --action deploy --resource 'App::"billing"' --outcome success --details '{"version":42}'
    $custos ledger verify
    $custos check --principal 'Service::"billing-worker"' --action 'Action::"refund"' --resource 'Invoice::"inv-1"' --context '{"amount_cents": 250000, "hour": 22}'

  Stop with Ctrl-C (graceful shutdown).

MSG
exec "$bin/custosd" --listen "$listen" --http-listen "$http" --data-dir data --keys-dir keys --policies-dir policies
