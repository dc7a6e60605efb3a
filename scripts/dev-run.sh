#!/usr/bin/env bash
# Starts a development custosd for `make run`: data under ./data, keys under ./keys, policies from ./policies.
set -euo pipefail
bin="$1"; listen="$2"; http="$3"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p data keys
chmod 700 keys
custos="$bin/custos"
# A development root-key passphrase, created once, 0600. Never use it for anything real.
passphrase=keys/dev-root-passphrase
if [ ! -f "$passphrase" ]; then
  (umask 077; head -c 24 /dev/urandom | base64 > "$passphrase")
fi
cat <<MSG

  !! DEVELOPMENT ONLY !!
  !! The root key is sealed with the passphrase in $passphrase and unsealed
  !! automatically at start: anyone who can read that file can decrypt every keyring.
  !! In production, unseal with \`custos operator unseal\` (or a passphrase from a secret store).
MSG
cat <<MSG

  custosd (development) — gRPC on $listen, HTTP on $http
  data: $root/data   keys: $root/keys   policies: $root/policies

  In another terminal (every call needs a token; the CLI gets one with the first admin credential, which
  custosd writes to keys/initial-admin-credential on its first start):
    export CUSTOS_SERVER=$listen CUSTOS_CREDENTIALS=$root/keys/initial-admin-credential
    $custos ledger append --actor 'Service::"deploy-bot"' --action deploy --resource 'App::"billing"' --outcome success --details '{"version":42}'
    $custos ledger verify
    $custos check --principal 'Service::"billing-worker"' --action 'Action::"refund"' --resource 'Invoice::"inv-1"' --context '{"amount_cents": 250000, "hour": 22}'
    $custos keys create billing-data
    echo -n 'IBAN DE89 3704' | $custos keys encrypt billing-data --context tenant=acme
    $custos keys decrypt billing-data <CIPHERTEXT> --context tenant=acme
    $custos clients create billing-worker --role 'Role::"payments"'
    curl -s http://$http/.well-known/jwks.json
    $custos report export --from 2020-01-01 --to 2100-01-01 --out /tmp/custos-evidence-\$\$
    $custos report verify /tmp/custos-evidence-\$\$ --verifier-key "\$($custos ledger verifier-key)"

  Stop with Ctrl-C (graceful shutdown).

MSG
exec "$bin/custosd" --listen "$listen" --http-listen "$http" --data-dir data --keys-dir keys --policies-dir policies \
  --root-passphrase-file "$passphrase" --auto-init
