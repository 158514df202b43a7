#!/usr/bin/env bash
# POST /bookings throughput on one backend, the (c)/(d) part of scripts/loadtest.sh without its
# GET rounds and idle-machine waits, so SQLite and PostgreSQL can be measured alike:
#
#     cargo build --release
#     scripts/post_bench.sh sqlite
#     scripts/post_bench.sh postgres://postgres@127.0.0.1:5432/postgres   # a fresh database beside it
#
# A fresh database (SQLite file, or a new PostgreSQL database, dropped afterwards) with the
# catalog, seeded by scripts/seed_bench.py (10 therapists 09:00-17:00 every day, ~1,500 bookings
# in the next 60 days); scripts/booking_targets.py lists distinct, non-overlapping offered slots;
# then wrk with scripts/post_bookings.lua: a 2 s warm-up, BENCH_RUNS runs of -c BENCH_CONNECTIONS
# for BENCH_POST_DURATION, one run of -c1 for 5 s. Each run gets its own slice of targets.
# Prints the BOOKINGS lines of every run (bookings/s, latency percentiles, status counts).
# Knobs: INSPINE_BIN (target/release/inspine), BENCH_PORT (8098), BENCH_CONNECTIONS (32),
# BENCH_POST_DURATION (10s), BENCH_RUNS (2).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGET=${1:?usage: post_bench.sh sqlite|postgres://…}
BIN=$(realpath "${INSPINE_BIN:-$HERE/../target/release/inspine}")
PORT=${BENCH_PORT:-8098}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_POST_DURATION:-10s}
RUNS=${BENCH_RUNS:-2}
WORK=$(mktemp -d /tmp/postbench.XXXXXX)
# The emails the bookings send (no SMTP_URL: one .eml file each) go to memory. In a directory of
# /tmp that collects ~100,000 files per run, creating each file cost the server more CPU than a
# booking's SQL (ext4's inode search; 13 % of the machine in a PostgreSQL profile), and more as
# the directory grew: a cost of this machine's disk, not of the service. BENCH_MAIL_SPOOL to
# choose another directory.
MAIL=${BENCH_MAIL_SPOOL:-$(mktemp -d /dev/shm/postbench-mail.XXXXXX)}
BASE="http://127.0.0.1:$PORT"

if [ "$TARGET" = sqlite ]; then
  URL="sqlite://$WORK/bench.sqlite"
  DROP=""
else
  NAME="inspine_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  URL=$(python3 -c "import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path='/' + sys.argv[2])))" "$TARGET" "$NAME")
  psql "$TARGET" -q -c "CREATE DATABASE \"$NAME\""
  DROP="DROP DATABASE IF EXISTS \"$NAME\" WITH (FORCE)"
fi
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  [ -n "$DROP" ] && psql "$TARGET" -q -c "$DROP" || true
  # A SQLite run leaves a log of several GB (see BENCHMARKS.md, 2026-12-07): never keep it.
  rm -rf "$WORK"
  if [ -z "${BENCH_MAIL_SPOOL:-}" ]; then rm -rf "$MAIL"; fi
}
trap cleanup EXIT

export DATABASE_URL=$URL BIND_ADDR="127.0.0.1:$PORT" DATA_DIR=$WORK MAIL_SPOOL_DIR=$MAIL \
  JWT_SECRET="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  RATE_LIMIT_ENABLED=false LOG_FORMAT=json RUST_LOG=warn ACCESS_TOKEN_TTL_MINUTES=600 \
  BOOKING_HORIZON_DAYS=1100 MAX_FUTURE_BOOKINGS_PER_CLIENT=1000000
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 150); do curl -sf -o /dev/null "$BASE/ready" && break; sleep 0.2; done
curl -sf -o /dev/null "$BASE/ready" || { cat "$WORK/server.log" >&2; exit 1; }

python3 "$HERE/seed_bench.py" --base "$BASE" --bin "$BIN" --database-url "$URL" \
  --out "$WORK/seed.json" --tokens-out "$WORK/tokens.txt" >"$WORK/seed.txt" 2>"$WORK/seed.log"
python3 "$HERE/booking_targets.py" --base "$BASE" --seed-json "$WORK/seed.json" \
  --tokens "$WORK/tokens.txt" --from-day 1 --days 1090 --out "$WORK/targets.tsv"
slice() { sed -n "$1,$(($1 + $2 - 1))p" "$WORK/targets.tsv" >"$WORK/$3.tsv"; }
slice 1 3000 warmup
# Every run gets an equal share of what is left after the warm-up and the c=1 run, so that a fast
# run does not run out of slots (each target is booked once).
total=$(wc -l <"$WORK/targets.tsv")
per=$(((total - 13000) / RUNS))
for r in $(seq "$RUNS"); do slice $((3001 + (r - 1) * per)) "$per" "run$r"; done
slice $((3001 + RUNS * per)) 10000 c1

post() { # TARGETS wrk-args...
  local targets=$1; shift
  wrk "$@" --timeout 10s --latency -s "$HERE/post_bookings.lua" "$BASE" -- "$WORK/$targets.tsv" 1 \
    | grep '^BOOKINGS'
}
echo "backend: ${TARGET%%://*}; $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
post warmup -t1 -c"$CONNS" -d2s >/dev/null
for r in $(seq "$RUNS"); do
  echo "-- c=$CONNS, $DURATION, run $r"
  post "run$r" -t1 -c"$CONNS" -d"$DURATION"
done
echo "-- c=1, 5s"
post c1 -t1 -c1 -d5s
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
