#!/usr/bin/env bash
# HTTP load test of the Inspine booking API on SQLite (loopback only, every run time-bounded).
#
# Builds nothing: it expects the release binary, built in a separate target dir:
#     CARGO_TARGET_DIR=/tmp/bench-target cargo build --release
# Needs: wrk (apt-get install -y wrk), curl, python3 (stdlib only).
#
#     scripts/loadtest.sh            # everything, ~10-20 min on 2 cores (more on a busy machine)
#
# What it does, in a fresh temp dir (kept afterwards, path printed at the end):
#   1. small DB: `inspine serve` once (migrates + seeds the catalog), stop, then
#      scripts/seed_bench.py --bookings 1500 (10 therapists, ~1500 bookings in the next 60 days);
#      serve again, then
#        (a) GET /slots, 1 therapist x 1 day   (swedish 60 min, day today+7), C connections
#        (a1) the same with 1 connection (diagnostic: service time without queueing)
#        (b) GET /slots, 10 therapists x 7 days (today+7 .. today+13), C connections
#        (c) POST /bookings, C connections, every request a distinct, mutually non-overlapping
#            offered slot (scripts/booking_targets.py builds the list from GET /slots over the
#            next ~3 years; scripts/post_bookings.lua sends each one once), counting
#            201/409/other; afterwards checks in the database that no two confirmed bookings of
#            a therapist overlap and counts the bookings committed during the run (cross-check
#            of wrk's count);
#        (d) POST /bookings with 1 connection (diagnostic: uncontended cost of one booking)
#   2. big DB: the same seed (identical future calendar) plus 998,500 historical (past,
#      mostly 'completed') bookings of the same therapists = 1,000,000 bookings; (a), (a1), (b).
#
# Every measured run is preceded by a warm-up. The machine may be shared (builds, test suites),
# so before each run the script waits for it to be idle, accounts CPU during the run
# (server / wrk / everything else, see cpu_account.py), and repeats a run whose "other" CPU
# exceeded BENCH_MAX_OTHER % (up to BENCH_ATTEMPTS times), keeping the cleanest attempt. The
# server and wrk run at nice BENCH_NICE (default -10 when root) to shield them a little more.
# Results: $WORK/results/*.txt (every attempt) and $WORK/results/summary.txt.
#
# Knobs (environment): INSPINE_BIN, BENCH_PORT (8088), BENCH_DURATION (15s, GET runs),
# BENCH_POST_DURATION (10s), BENCH_WARMUP (3s), BENCH_CONNECTIONS (32), BENCH_THREADS (wrk
# threads, 1), BENCH_BIG_BOOKINGS (1000000), BENCH_SKIP_BIG=1, BENCH_ATTEMPTS (3),
# BENCH_MAX_OTHER (15), BENCH_QUIET_WAIT (90 x 2 s), BENCH_NICE, BENCH_DIR (default: mktemp -d).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${INSPINE_BIN:-/tmp/bench-target/release/inspine}
PORT=${BENCH_PORT:-8088}
BASE=http://127.0.0.1:$PORT
DURATION=${BENCH_DURATION:-15s}
POST_DURATION=${BENCH_POST_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
BIG=${BENCH_BIG_BOOKINGS:-1000000}
ATTEMPTS=${BENCH_ATTEMPTS:-3}
MAX_OTHER=${BENCH_MAX_OTHER:-15}
if [ "$(id -u)" = 0 ]; then NICE=${BENCH_NICE:--10}; else NICE=${BENCH_NICE:-0}; fi
WORK=${BENCH_DIR:-$(mktemp -d /tmp/apibench.XXXXXX)}
RESULTS=$WORK/results
mkdir -p "$RESULTS"

[ -x "$BIN" ] || { echo "no release binary at $BIN; build it first:" >&2
  echo "  CARGO_TARGET_DIR=/tmp/bench-target cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
if curl -s -o /dev/null "$BASE/health"; then
  echo "something already listens on 127.0.0.1:$PORT; set BENCH_PORT" >&2; exit 1
fi

SECRET="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SERVER_PID= SERVER_DB= SERVER_LOG= RESTARTS=0
# Run a copy under another name: on a shared machine a `pkill inspine` meant for someone else's
# dev server would otherwise take this one down mid-run. A server that dies anyway is restarted
# and the run repeated (reported in the summary).
SRV=$WORK/bench-apisrv
cp "$BIN" "$SRV"

# The server runs with $WORK as its working directory, so no .env of the repo applies.
export BIND_ADDR=127.0.0.1:$PORT JWT_SECRET=$SECRET RATE_LIMIT_ENABLED=false LOG_FORMAT=json \
  RUST_LOG=warn ACCESS_TOKEN_TTL_MINUTES=600 BOOKING_HORIZON_DAYS=1100 \
  MAX_FUTURE_BOOKINGS_PER_CLIENT=1000000

say() { echo "$*" | tee -a "$RESULTS/summary.txt"; }

start_server() { # $1 = db path, $2 = log name
  ( cd "$WORK" && DATABASE_URL="sqlite://$1" exec nice -n "$NICE" "$SRV" serve ) \
    >>"$RESULTS/$2.log" 2>&1 &
  SERVER_PID=$! SERVER_DB=$1 SERVER_LOG=$2
  for _ in $(seq 1 150); do
    if curl -sf -o /dev/null "$BASE/ready"; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died; see $RESULTS/$2.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "server not ready after 30 s" >&2; exit 1
}

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop_server EXIT

server_alive() { [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; }
ensure_server() { # restart the server if something killed it
  if ! server_alive; then
    RESTARTS=$((RESTARTS + 1))
    say "  (the server, pid $SERVER_PID, was killed from outside; restarting it on the same database)"
    wait "$SERVER_PID" 2>/dev/null || true
    start_server "$SERVER_DB" "$SERVER_LOG"
    return 1
  fi
}
cpu_ticks() { # utime+stime of the server, in clock ticks (0 if it is gone)
  awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0
}
sys_ticks() { # "busy total" jiffies of the whole machine
  awk '/^cpu / {b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6}' /proc/stat
}

# Wait up to BENCH_QUIET_WAIT x 2 s for the machine to be mostly idle (< 15 % busy over 2 s).
wait_quiet() {
  local a b
  for _ in $(seq 1 "${BENCH_QUIET_WAIT:-90}"); do
    a=$(sys_ticks); sleep 2; b=$(sys_ticks)
    set -- $a $b
    if [ $(( ($3 - $1) * 100 )) -lt $(( 15 * ($4 - $2) )) ]; then return 0; fi
  done
  say "  (machine still busy after waiting; measuring anyway)"
}

# measure NAME wrk-args...: measured wrk run(s); the cleanest attempt ends up in
# $RESULTS/NAME.txt with a CPU line appended (see cpu_account.py). "@ATTEMPT@" in an argument
# is replaced by the attempt number (the POST runs use a fresh target list per attempt).
# Sets MEASURE_FROM / MEASURE_TO (UTC) of the kept attempt.
measure() {
  local name=$1; shift
  local best=999 attempt out other s0 s1 c0 c1 w0 w1 from to args
  for attempt in $(seq 1 "$ATTEMPTS"); do
    args=("${@//@ATTEMPT@/$attempt}")
    out="$RESULTS/$name.attempt$attempt.txt"
    wait_quiet
    ensure_server || true
    s0=$(sys_ticks); c0=$(cpu_ticks); w0=$(date +%s.%N); from=$(date -u '+%F %T.%6N')
    { TIMEFORMAT='%U %S'; time nice -n "$NICE" wrk "${args[@]}" >"$out"; } 2>"$out.time"
    to=$(date -u '+%F %T.%6N'); s1=$(sys_ticks); c1=$(cpu_ticks); w1=$(date +%s.%N)
    if ! ensure_server; then
      say "  ($name attempt $attempt discarded: the server was killed during it)"; continue
    fi
    python3 "$HERE/cpu_account.py" "$s0" "$s1" "$c0" "$c1" "$w0" "$w1" \
      "$(tail -n 1 "$out.time")" "$(getconf CLK_TCK)" >>"$out"
    other=$(sed -n 's/^CPU .* other=\([0-9]*\)%.*/\1/p' "$out")
    if [ "$other" -lt "$best" ]; then
      best=$other; cp "$out" "$RESULTS/$name.txt"; MEASURE_FROM=$from; MEASURE_TO=$to
    fi
    [ "$other" -le "$MAX_OTHER" ] && break
    say "  ($name attempt $attempt: other processes used ${other}% CPU; $([ "$attempt" -lt "$ATTEMPTS" ] && echo retrying || echo keeping the cleanest attempt))"
  done
  if [ ! -f "$RESULTS/$name.txt" ]; then
    say "  ($name: no valid attempt)"; echo "CPU server=? wrk=? other=? machine=?" >"$RESULTS/$name.txt"
  fi
}

get_line() { # NAME URL: print the summary line of a GET run
  local f=$RESULTS/$1.txt rps p50 p99 non2xx items cpu
  rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
  p50=$(awk '$1=="50%" {print $2}' "$f")
  p99=$(awk '$1=="99%" {print $2}' "$f")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$f"); non2xx=${non2xx:-0}
  cpu=$(grep '^CPU' "$f" | cut -d' ' -f2-5)
  items=$(curl -s "$2" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  printf '%-19s req/s=%-9s p50=%-8s p99=%-8s non2xx=%-3s slots/resp=%-4s %s\n' \
    "$1" "$rps" "$p50" "$p99" "$non2xx" "$items" "$cpu" | tee -a "$RESULTS/summary.txt"
}

run_get() { # NAME URL CONNECTIONS: warm-up, then measured run(s); prints a summary line
  local name=$1 url=$2 c=$3
  ensure_server || true
  nice -n "$NICE" wrk -t"$THREADS" -c"$c" -d"$WARMUP" --timeout 10s "$url" >/dev/null
  measure "$name" -t"$THREADS" -c"$c" -d"$DURATION" --timeout 10s --latency "$url"
  get_line "$name" "$url"
}

prepare_db() { # $1 = db path, $2 = total bookings, $3 = name
  start_server "$1" "$3-server"; stop_server
  python3 "$HERE/seed_bench.py" "$1" --jwt-secret "$SECRET" --bookings "$2" \
    --out "$WORK/$3-seed.json" --tokens-out "$WORK/$3-tokens.txt" \
    >"$RESULTS/$3-seed.txt" 2>"$RESULTS/$3-seed.log"
  say "seeded $3: $(python3 -c "import json; d=json.load(open('$WORK/$3-seed.json')); \
print({k: d[k] for k in ('bookings_total','bookings_future','bookings_future_confirmed','bookings_history','clients','seconds')})")"
}

get_runs() { # $1 = name
  local seed=$WORK/$1-seed.json type therapist d0 d1 d6 one week
  type=$(python3 -c "import json; print(json.load(open('$seed'))['massage_types']['swedish'])")
  therapist=$(python3 -c "import json; print(json.load(open('$seed'))['therapists'][0])")
  d0=$(python3 -c "import json; print(json.load(open('$seed'))['today_local'])")
  d1=$(date -d "$d0 + 7 days" +%F); d6=$(date -d "$d0 + 13 days" +%F)
  one="$BASE/api/v1/slots?massage_type_id=$type&duration_minutes=60&from=$d1&to=$d1&therapist_id=$therapist"
  week="$BASE/api/v1/slots?massage_type_id=$type&duration_minutes=60&from=$d1&to=$d6"
  run_get "$1 GET 1x1 c=$CONNS" "$one" "$CONNS"
  run_get "$1 GET 1x1 c=1" "$one" 1
  run_get "$1 GET 10x7 c=$CONNS" "$week" "$CONNS"
}

post_line() { # NAME LABEL
  grep -E '^(BOOKINGS|CPU)' "$RESULTS/$1.txt" | sed "s/^/$2: /" | tee -a "$RESULTS/summary.txt"
}

say "work dir: $WORK; $(nproc) cores; wrk -t$THREADS -c$CONNS -d$DURATION (POST -d$POST_DURATION), warm-up $WARMUP; nice $NICE"
say "binary: $BIN ($(stat -c %y "$BIN"))"

# ---- 1. small DB: 1,500 bookings --------------------------------------------------------------
SMALL=$WORK/small.sqlite
prepare_db "$SMALL" 1500 small
start_server "$SMALL" small-server
get_runs small

# (c) POST /bookings. Disjoint slices of the target list: warm-up, c=1 diagnostic, then one
# slice per attempt of the measured run.
ensure_server || true
python3 "$HERE/booking_targets.py" --base "$BASE" --seed-json "$WORK/small-seed.json" \
  --tokens "$WORK/small-tokens.txt" --from-day 1 --days 1090 --out "$WORK/targets-all.tsv" \
  | tee -a "$RESULTS/summary.txt"
# Slices: 3000 warm-up, then per attempt C1 for the c=1 run and the rest shared equally by the
# attempts of the measured run.
total=$(wc -l <"$WORK/targets-all.tsv")
C1=10000
per=$(( (total - 3000 - ATTEMPTS * C1) / ATTEMPTS ))
say "POST target slices: warm-up 3000, c=1 $ATTEMPTS x $C1, c=$CONNS $ATTEMPTS x $per"
head -n 3000 "$WORK/targets-all.tsv" >"$WORK/targets-warmup.tsv"
for a in $(seq 1 "$ATTEMPTS"); do
  first=$(( 3001 + (a - 1) * C1 ))
  sed -n "${first},$((first + C1 - 1))p" "$WORK/targets-all.tsv" >"$WORK/targets-c1-$a.tsv"
  first=$(( 3001 + ATTEMPTS * C1 + (a - 1) * per ))
  sed -n "${first},$((first + per - 1))p" "$WORK/targets-all.tsv" >"$WORK/targets-$a.tsv"
done
ensure_server || true
nice -n "$NICE" wrk -t"$THREADS" -c"$CONNS" -d2s --timeout 10s -s "$HERE/post_bookings.lua" \
  "$BASE" -- "$WORK/targets-warmup.tsv" "$THREADS" >"$RESULTS/small-POST-warmup.txt"
measure small-POST -t"$THREADS" -c"$CONNS" -d"$POST_DURATION" --timeout 10s --latency \
  -s "$HERE/post_bookings.lua" "$BASE" -- "$WORK/targets-@ATTEMPT@.tsv" "$THREADS"
post_line small-POST "small POST c=$CONNS"
MAIN_FROM=$MEASURE_FROM MAIN_TO=$MEASURE_TO
# (d) diagnostic: one connection, no lock contention (the end-to-end cost of one booking). A
# 10,000-target slice suffices up to 2,000 bookings/s for 5 s (exhausted_threads says if not).
measure small-POST-c1 -t1 -c1 -d5s --timeout 10s --latency \
  -s "$HERE/post_bookings.lua" "$BASE" -- "$WORK/targets-c1-@ATTEMPT@.tsv" 1
post_line small-POST-c1 "small POST c=1"
stop_server
python3 - "$SMALL" "$MAIN_FROM" "$MAIN_TO" <<'EOF' | tee -a "$RESULTS/summary.txt"
import datetime as dt, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
# Cross-check of the wrk count: bookings whose created_at (taken inside the write transaction)
# falls between the start and the end of the kept measured wrk run.
made, first, last = con.execute(
    "SELECT count(*), min(created_at), max(created_at) FROM bookings WHERE created_at BETWEEN ? AND ?",
    (sys.argv[2], sys.argv[3])).fetchone()
p = lambda s: dt.datetime.fromisoformat(s)
span = (p(sys.argv[3]) - p(sys.argv[2])).total_seconds()
print(f"small DB: {made} bookings committed during the kept measured POST run ({span:.2f} s) = "
      f"{made / span:.1f} bookings/s (first {first}, last {last})")
n = con.execute("SELECT count(*) FROM bookings WHERE status='confirmed'").fetchone()[0]
overlaps = con.execute("""
  SELECT count(*) FROM bookings a JOIN bookings b
    ON a.therapist_id = b.therapist_id AND a.id < b.id
   AND b.start_at < a.blocked_until AND a.start_at < b.blocked_until
   AND b.start_at > datetime(a.start_at, '-10 hours')
  WHERE a.status = 'confirmed' AND b.status = 'confirmed'""").fetchone()[0]
print(f"small DB after the POST runs: confirmed bookings={n}, overlapping confirmed pairs={overlaps}")
EOF

# ---- 2. big DB: 1,000,000 bookings ------------------------------------------------------------
if [ "${BENCH_SKIP_BIG:-0}" != 1 ]; then
  BIGDB=$WORK/big.sqlite
  prepare_db "$BIGDB" "$BIG" big
  start_server "$BIGDB" big-server
  get_runs big
  stop_server
fi

say "server restarts after outside kills: $RESTARTS"
for log in "$RESULTS"/*-server.log; do
  say "$(basename "$log"): $(grep -c '"level":"ERROR"' "$log" || true) ERROR lines, $(grep -c '"level":"WARN"' "$log" || true) WARN lines"
done
echo "results in $RESULTS"
