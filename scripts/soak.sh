#!/usr/bin/env bash
# Soak test: DURATION seconds (default 300) of mixed traffic from wrk against the release build
# on a fresh SQLite database, then asserts: no 5xx, no overlapping confirmed bookings, and a
# stable resident set (the last sample at most 1.5x the one after warm-up). Loopback only.
#
#   cargo build --release && bash scripts/soak.sh            # DURATION=60 for a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/inspine}
PORT=${PORT:-18090}
DURATION=${DURATION:-300}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
[ -x "$BIN" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DATABASE_URL="sqlite://$WORK/db.sqlite" BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK" \
  JWT_SECRET=soak-secret-soak-secret-soak-secret RATE_LIMIT_ENABLED=false RUST_LOG=warn \
  ACCESS_TOKEN_TTL_MINUTES=120 MAX_FUTURE_BOOKINGS_PER_CLIENT=100000 MIN_NOTICE_MINUTES=0
"$BIN" seed --demo >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.2; done

python3 scripts/soak.py prepare "http://127.0.0.1:$PORT/api/v1" "$WORK/mix.tsv"

rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
: >"$WORK/rss"
( while kill -0 "$SERVER" 2>/dev/null; do echo "$(date +%s) $(rss)" >>"$WORK/rss"; sleep 10; done ) &
SAMPLER=$!

wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency -s scripts/soak.lua \
  "http://127.0.0.1:$PORT" -- "$WORK/mix.tsv" "$THREADS" | tee "$WORK/wrk.txt"
kill "$SAMPLER" 2>/dev/null || true

fail=0
fivexx=$(sed -n 's/.*5xx=\([0-9]*\).*/\1/p' "$WORK/wrk.txt")
[ "${fivexx:-1}" = 0 ] || { echo "FAIL: $fivexx responses were 5xx"; fail=1; }
python3 scripts/soak.py check "$WORK/db.sqlite" || { echo "FAIL: overlapping bookings"; fail=1; }
# Warm-up: compare the sample ~60 s in with the last one.
warm=$(awk 'NR==7 {print $2}' "$WORK/rss"); last=$(tail -n1 "$WORK/rss" | awk '{print $2}')
warm=${warm:-$(head -n1 "$WORK/rss" | awk '{print $2}')}
echo "RSS after warm-up ${warm} KiB, at the end ${last} KiB (samples every 10 s: $(awk '{printf "%s ", $2}' "$WORK/rss"))"
if [ "$last" -gt $((warm * 3 / 2)) ]; then echo "FAIL: RSS grew more than 1.5x"; fail=1; fi
[ $fail = 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit $fail
