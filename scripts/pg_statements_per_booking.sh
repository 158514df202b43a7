#!/usr/bin/env bash
# The statements one POST /bookings sends to PostgreSQL, in order (for BENCHMARKS.md): a fresh
# database with the demo data, a release server whose sessions log every statement
# (PGOPTIONS=-c log_statement=all, a superuser's session setting), one warm-up request, then one
# booking; its slice of the server log is printed. Needs read access to the PostgreSQL log.
#   scripts/pg_statements_per_booking.sh            # PG_BASE, PG_LOG, INSPINE_BIN to override
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$(realpath "${INSPINE_BIN:-$HERE/../target/release/inspine}")
PG=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
LOG=${PG_LOG:-$(ls /var/log/postgresql/postgresql-*-main.log | head -n1)}
NAME=inspine_stmtcount_$$
WORK=$(mktemp -d)
cd "$WORK"
psql $PG/postgres -qc "CREATE DATABASE $NAME"
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null; psql $PG/postgres -qc "DROP DATABASE IF EXISTS $NAME WITH (FORCE)"' EXIT
export DATABASE_URL=$PG/$NAME JWT_SECRET=stmtcount-secret-stmtcount-secret-0000 DATA_DIR=$WORK \
  RATE_LIMIT_ENABLED=false RUST_LOG=warn BIND_ADDR=127.0.0.1:18291 HEALTH_DATA_KEY=$(printf '42%.0s' $(seq 32))
$BIN migrate >/dev/null; $BIN seed --demo >/dev/null
PGOPTIONS='-c log_statement=all' $BIN serve > server.log 2>&1 &
SRV=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18291/ready && break; sleep 0.2; done
API=http://127.0.0.1:18291/api/v1
TOKEN=$(curl -sf -X POST $API/auth/register -H 'content-type: application/json' -d '{"email":"c@x.example","password":"stmt count password","name":"C"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
TYPE=$(curl -sf $API/massage-types | python3 -c 'import json,sys; print([t["id"] for t in json.load(sys.stdin)["items"] if t["slug"]=="swedish"][0])')
FROM=$(date -d '+2 days' +%F); TO=$(date -d '+20 days' +%F)
read T S < <(curl -sf "$API/slots?massage_type_id=$TYPE&duration_minutes=60&from=$FROM&to=$TO" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["therapist_id"], i[0]["start"]); ')
BODY="{\"therapist_id\":\"$T\",\"massage_type_id\":\"$TYPE\",\"duration_minutes\":60,\"start\":\"$S\"}"
# Warm the pool's connections (first statements of a session), then mark.
curl -s -o /dev/null -X POST $API/bookings -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{}' 
sleep 1.2
B=$(stat -c %s "$LOG")
curl -s -o /dev/null -w '%{http_code}\n' -X POST $API/bookings -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$BODY"
E=$(stat -c %s "$LOG")
tail -c +$((B+1)) "$LOG" | head -c $((E-B)) | grep -o 'LOG:  \(statement\|execute [^:]*\): .\{0,100\}'
