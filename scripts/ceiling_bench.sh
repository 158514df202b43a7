#!/usr/bin/env bash
# GET /slots against the framework ceiling (examples/ceiling.rs: actix-web + an r2d2 SQLite
# pool answering one indexed SELECT as JSON), side by side on one database, with wrk -c32.
#
#     cargo build --release --bin inspine --example ceiling
#     scripts/ceiling_bench.sh DB.sqlite SEED.json     # a database and seed kept by loadtest.sh
#
# Interleaved rounds (BENCH_ROUNDS, 3) of: the ceiling, /slots 1 therapist x 1 day, /slots
# 10 therapists x 7 days (days today+7..today+13 as loadtest.sh searches), each
# BENCH_DURATION (15s) after a 3 s warm-up, on a copy of DB. Prints wrk's summary lines.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DB=${1:?usage: ceiling_bench.sh DB.sqlite SEED.json}
SEED=${2:?usage: ceiling_bench.sh DB.sqlite SEED.json}
BIN=$(realpath "${INSPINE_BIN:-$HERE/../target/release/inspine}")
CEIL=$(realpath "${CEILING_BIN:-$HERE/../target/release/examples/ceiling}")
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-15s}
WORK=$(mktemp -d /tmp/ceiling.XXXXXX)
cp "$DB" "$WORK/db.sqlite"
cp "$DB" "$WORK/ceiling.sqlite"
cd "$WORK"
export DATABASE_URL="sqlite://$WORK/db.sqlite" BIND_ADDR=127.0.0.1:8096 DATA_DIR="$WORK" \
  JWT_SECRET=ceiling-bench-secret-ceiling-bench-secret RATE_LIMIT_ENABLED=false RUST_LOG=warn
"$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVE=$!
"$CEIL" "$WORK/ceiling.sqlite" 127.0.0.1:8097 >"$WORK/ceiling.log" 2>&1 &
CEILING=$!
trap 'kill $SERVE $CEILING 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 150); do curl -sf -o /dev/null http://127.0.0.1:8096/ready && break; sleep 0.2; done
read -r therapist type today < <(python3 -c "
import json, sys; s = json.load(open('$SEED'))
print(s['therapists'][0], s['massage_types']['swedish'], s['today_local'])")
d1=$(date -d "$today + 7 days" +%F)
d6=$(date -d "$today + 13 days" +%F)
declare -A URL=(
  [ceiling]="http://127.0.0.1:8097/therapists/$therapist"
  [slots-1x1]="http://127.0.0.1:8096/api/v1/slots?massage_type_id=$type&duration_minutes=60&from=$d1&to=$d1&therapist_id=$therapist"
  [slots-10x7]="http://127.0.0.1:8096/api/v1/slots?massage_type_id=$type&duration_minutes=60&from=$d1&to=$d6"
)
for name in ceiling slots-1x1 slots-10x7; do
  curl -sf -o /dev/null "${URL[$name]}" || { echo "$name does not answer 200: ${URL[$name]}" >&2; exit 1; }
done
for round in $(seq "$ROUNDS"); do
  for name in ceiling slots-1x1 slots-10x7; do
    wrk -t1 -c32 -d3s "${URL[$name]}" >/dev/null
    out=$(wrk -t1 -c32 -d"$DURATION" --latency "${URL[$name]}")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    echo "round $round $name req/s=$rps p50=$p50 p99=$p99 non2xx=${non2xx:-0}"
  done
done
