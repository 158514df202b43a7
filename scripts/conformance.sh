#!/usr/bin/env bash
# Outside-in conformance: starts the release binary on a temporary SQLite database and runs
# schemathesis (in a virtual environment this script creates) against the live OpenAPI spec,
# as an admin and as a client, with schemathesis' default checks. Also validates the committed
# spec with openapi-spec-validator. Exits non-zero on any finding. scripts/conformance_hooks.py
# makes the generated *valid* requests follow the contract's rules that JSON Schema cannot state
# (existing ids, offered slots, ordered time ranges...); the checks themselves are the defaults.
# Then lints the spec with Redocly's `recommended` rules and drives a Python client generated from
# it (openapi-python-client, default settings) through register → slots → book → reschedule →
# cancel (scripts/client_flow.py). .ci/run runs this after the test suites.
#
#   cargo build --release && bash scripts/conformance.sh
#   MAX_TIME=300 SEED=1234 bash scripts/conformance.sh   # longer, or replay one run's seed
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/inspine}
PORT=${PORT:-18080}
VENV=${VENV:-target/conformance-venv}
[ -x "$BIN" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }

if [ ! -x "$VENV/bin/schemathesis" ] || [ ! -x "$VENV/bin/openapi-python-client" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'schemathesis==4.32.5' 'openapi-spec-validator==0.9.0' \
    'openapi-python-client==0.29.1' 'ruff==0.14.8'
fi
"$VENV/bin/openapi-spec-validator" openapi/openapi.json

# Redocly's `recommended` rules, 0 errors (warnings are printed, not fatal).
REDOCLY=${REDOCLY:-target/redocly}
if [ ! -x "$REDOCLY/node_modules/.bin/redocly" ]; then
  mkdir -p "$REDOCLY"
  npm install --silent --no-audit --no-fund --prefix "$REDOCLY" '@redocly/cli@2.77.0'
fi
REDOCLY_TELEMETRY=off "$REDOCLY/node_modules/.bin/redocly" lint openapi/openapi.json --extends recommended

WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DATABASE_URL="sqlite://$WORK/db.sqlite" BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK" \
  JWT_SECRET=conformance-secret-conformance-secret RATE_LIMIT_ENABLED=false RUST_LOG=warn LOG_FORMAT=json \
  WEBHOOK_ALLOW_PRIVATE_TARGETS=true ACCESS_TOKEN_TTL_MINUTES=240
"$BIN" seed --demo >/dev/null
echo 'conformance-admin-password' | "$BIN" user create --email admin@conformance.example --role admin >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null || { echo "the server did not become ready:" >&2; cat "$WORK/server.log" >&2; exit 1; }

API="http://127.0.0.1:$PORT/api/v1"
login() {
  curl -sf -X POST "$API/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
ADMIN=$(login admin@conformance.example conformance-admin-password)
curl -sf -X POST "$API/auth/register" -H 'content-type: application/json' \
  -d '{"email":"client@conformance.example","password":"conformance-client","name":"Client"}' >/dev/null
CLIENT=$(login client@conformance.example conformance-client)

# The hooks make schemathesis' valid (positive) requests follow the contract's business rules
# that JSON Schema cannot state; see the file's docstring.
export PYTHONPATH=scripts SCHEMATHESIS_HOOKS=conformance_hooks CONFORMANCE_API="$API" \
  CONFORMANCE_ADMIN_TOKEN="$ADMIN" CONFORMANCE_BIN="$(realpath "$BIN")"
# On the fresh demo data, before schemathesis changes it.
status=0
# A client generated from the committed spec with default settings books end to end.
echo "== a generated Python client: register, slots, book, reschedule, cancel"
PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate \
  --path openapi/openapi.json --output-path "$WORK/client" >/dev/null
PYTHONPATH="$WORK/client" CONFORMANCE_ORIGIN="http://127.0.0.1:$PORT" \
  "$VENV/bin/python" scripts/client_flow.py || status=1

# One worker: the hooks look up live data just before each request, and a second worker could
# change it in between (retire the massage type just picked, say).
for who in ADMIN CLIENT; do
  echo "== schemathesis as ${who,,}"
  CONFORMANCE_ROLE=${who,,} CONFORMANCE_TOKEN=${!who} "$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$API/openapi.json" \
    -H "Authorization: Bearer ${!who}" \
    --workers 1 --max-time "${MAX_TIME:-90}" ${SEED:+--seed "$SEED"} --continue-on-failure || status=1
done
# Our own errors (500s log their cause); actix's complaints about malformed requests are not.
if grep '"level":"ERROR"' "$WORK/server.log" | grep -q '"target":"inspine'; then
  echo "server logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/server.log" | grep '"target":"inspine' | head -20 >&2
  status=1
fi
exit $status
