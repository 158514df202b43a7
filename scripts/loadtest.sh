#!/usr/bin/env bash
# HTTP load test of the Inspine booking API on SQLite (loopback only, every run time-bounded).
#
# Builds nothing: it expects the release binary, built in a separate target dir:
#     CARGO_TARGET_DIR=/tmp/bench-target cargo build --release
# Needs: wrk (apt-get install -y wrk), curl, python3 (stdlib only).
#
#     scripts/loadtest.sh        # everything: ~15 min on an idle 2-core machine, more on a busy one
#
# What it does, in a fresh temp dir (kept afterwards, path printed at the end):
#   1. Two databases, each made by `inspine serve` (migrates + seeds the catalog) and seeded
#      through that server's API (and `inspine user create` for its admin) by
#      scripts/seed_bench.py before it is stopped: "small" = 10 therapists, ~1,500 bookings in
#      the next 60 days; "big" = the same future calendar (same seed) plus 998,500 historical
#      (past, mostly 'completed', written directly: the API refuses past starts) bookings of the
#      same therapists = 1,000,000 bookings.
#   2. A server on each (small on BENCH_PORT, big on BENCH_PORT+1), then BENCH_ROUNDS rounds of,
#      alternating small and big so that drift on a shared machine hits both alike:
#        (a)  GET /slots, 1 therapist x 1 day  (swedish 60 min, day today+7), C connections
#        (a1) the same with 1 connection (service time without queueing)
#        (b)  GET /slots, 10 therapists x 7 days (today+7 .. today+13), C connections
#      and a table of medians with the big/small ratios.
#   3. On the small database:
#        (c) POST /bookings, C connections; every request is a distinct offered slot, and no two
#            overlap (scripts/booking_targets.py builds the list from GET /slots over the next
#            ~3 years; scripts/post_bookings.lua sends each one once), counting 201/409/other;
#            then checks in the database that no two confirmed bookings of a therapist overlap
#            and counts the bookings committed during the run (cross-check of wrk's count);
#        (d) POST /bookings with 1 connection (the uncontended cost of one booking).
#
# Every measured run is preceded by a warm-up. The machine may be shared (builds, test suites),
# so before each run the script waits for it to be idle, accounts CPU during the run
# (server / wrk / everything else, see cpu_account.py), and repeats a run whose "other" CPU
# exceeded BENCH_MAX_OTHER % (up to BENCH_ATTEMPTS times), keeping the cleanest attempt. The
# servers and wrk run at nice BENCH_NICE (default -10 when root). The servers run as a copy of
# the binary named bench-apisrv, so a `pkill inspine` aimed at someone's dev server does not hit
# them; a server killed anyway is restarted and the run repeated (counted in the summary).
# Results: $WORK/results/*.txt (every attempt), get_runs.tsv and summary.txt.
#
# With BENCH_BIG_KIND=frontdesk, "big" is instead the small database plus front-desk load inside
# the searched window (scripts/front_desk_load.py: 1,000 active holds, 70 date overrides, 430
# closures), and the POST runs are skipped: the cost of holds, overrides and closures on /slots.
#
# Knobs (environment): INSPINE_BIN, BENCH_BIG_KIND (history | frontdesk), BENCH_PORT (8088; +1 is used too), BENCH_DURATION (15s, GET),
# BENCH_POST_DURATION (10s), BENCH_WARMUP (3s), BENCH_CONNECTIONS (32), BENCH_THREADS (wrk
# threads, 1), BENCH_ROUNDS (3), BENCH_BIG_BOOKINGS (1000000), BENCH_ATTEMPTS (3),
# BENCH_MAX_OTHER (15), BENCH_QUIET_WAIT (90 x 2 s), BENCH_NICE, BENCH_DIR (default: mktemp -d).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${INSPINE_BIN:-/tmp/bench-target/release/inspine}
PORT=${BENCH_PORT:-8088}
DURATION=${BENCH_DURATION:-15s}
POST_DURATION=${BENCH_POST_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-3}
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
for p in "$PORT" $((PORT + 1)); do
  if curl -s -o /dev/null "http://127.0.0.1:$p/health"; then
    echo "something already listens on 127.0.0.1:$p; set BENCH_PORT" >&2; exit 1
  fi
done

SECRET="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SRV=$WORK/bench-apisrv
cp "$BIN" "$SRV"
declare -A SPID=() SDB=() SPORT=([small]=$PORT [big]=$((PORT + 1)))
RESTARTS=0

# The servers run with $WORK as their working directory, so no .env of the repo applies.
export JWT_SECRET=$SECRET RATE_LIMIT_ENABLED=false LOG_FORMAT=json RUST_LOG=warn \
  ACCESS_TOKEN_TTL_MINUTES=600 BOOKING_HORIZON_DAYS=1100 MAX_FUTURE_BOOKINGS_PER_CLIENT=1000000

say() { echo "$*" | tee -a "$RESULTS/summary.txt"; }
base() { echo "http://127.0.0.1:${SPORT[$1]}"; }

start_server() { # NAME DB
  ( cd "$WORK" && DATABASE_URL="sqlite://$2" BIND_ADDR="127.0.0.1:${SPORT[$1]}" \
      exec nice -n "$NICE" "$SRV" serve ) >>"$RESULTS/$1-server.log" 2>&1 &
  SPID[$1]=$! SDB[$1]=$2
  for _ in $(seq 1 150); do
    if curl -sf -o /dev/null "$(base "$1")/ready"; then return 0; fi
    kill -0 "${SPID[$1]}" 2>/dev/null || { echo "server $1 died; see $RESULTS/$1-server.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "server $1 not ready after 30 s" >&2; exit 1
}

stop_server() { # NAME
  local pid=${SPID[$1]:-}
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  SPID[$1]=
}
stop_all() { for n in "${!SPID[@]}"; do stop_server "$n"; done; }
trap stop_all EXIT

ensure_server() { # NAME: restart the server if something killed it (returns 1 then)
  local pid=${SPID[$1]:-}
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    RESTARTS=$((RESTARTS + 1))
    say "  (server $1, pid $pid, was killed from outside; restarting it on the same database)"
    wait "$pid" 2>/dev/null || true
    start_server "$1" "${SDB[$1]}"
    return 1
  fi
}
cpu_ticks() { # NAME: utime+stime of the server, in clock ticks (0 if it is gone)
  awk '{print $14 + $15}' "/proc/${SPID[$1]}/stat" 2>/dev/null || echo 0
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

# measure SERVER NAME wrk-args...: measured wrk run(s) against SERVER; the cleanest attempt
# ends up in $RESULTS/NAME.txt with a CPU line appended (see cpu_account.py). "@ATTEMPT@" in an
# argument is replaced by the attempt number (the POST runs use a fresh target list per
# attempt). Sets MEASURE_FROM / MEASURE_TO (UTC) of the kept attempt.
measure() {
  local srv=$1 name=$2; shift 2
  local best=999 attempt out other s0 s1 c0 c1 w0 w1 from to args
  rm -f "$RESULTS/$name.txt"
  for attempt in $(seq 1 "$ATTEMPTS"); do
    args=("${@//@ATTEMPT@/$attempt}")
    out="$RESULTS/$name.attempt$attempt.txt"
    wait_quiet
    ensure_server "$srv" || true
    s0=$(sys_ticks); c0=$(cpu_ticks "$srv"); w0=$(date +%s.%N); from=$(date -u '+%F %T.%6N')
    { TIMEFORMAT='%U %S'; time nice -n "$NICE" wrk "${args[@]}" >"$out"; } 2>"$out.time"
    to=$(date -u '+%F %T.%6N'); s1=$(sys_ticks); c1=$(cpu_ticks "$srv"); w1=$(date +%s.%N)
    if ! ensure_server "$srv"; then
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
    say "  ($name: no valid attempt)"; echo "CPU server=? wrk=? other=999% machine=?" >"$RESULTS/$name.txt"
  fi
}

run_get() { # SERVER SCENARIO ROUND URL CONNECTIONS: warm-up, measured run(s), summary line
  local srv=$1 scen=$2 round=$3 url=$4 c=$5
  local name="$srv GET $scen r$round" f rps p50 p99 non2xx items cpu other
  ensure_server "$srv" || true
  nice -n "$NICE" wrk -t"$THREADS" -c"$c" -d"$WARMUP" --timeout 10s "$url" >/dev/null
  measure "$srv" "$name" -t"$THREADS" -c"$c" -d"$DURATION" --timeout 10s --latency "$url"
  f=$RESULTS/$name.txt
  rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
  p50=$(awk '$1=="50%" {print $2}' "$f")
  p99=$(awk '$1=="99%" {print $2}' "$f")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$f"); non2xx=${non2xx:-0}
  cpu=$(grep '^CPU' "$f" | cut -d' ' -f2-5)
  other=$(sed -n 's/^CPU .* other=\([0-9]*\)%.*/\1/p' "$f")
  items=$(curl -s "$url" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  printf '%-26s req/s=%-9s p50=%-8s p99=%-8s non2xx=%-3s slots/resp=%-4s %s\n' \
    "$name" "$rps" "$p50" "$p99" "$non2xx" "$items" "$cpu" | tee -a "$RESULTS/summary.txt"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$scen" "$round" "$rps" "$p50" "$p99" "$non2xx" "$other" \
    >>"$RESULTS/get_runs.tsv"
}

prepare_db() { # NAME TOTAL_BOOKINGS
  local db=$WORK/$1.sqlite
  start_server "$1" "$db"
  python3 "$HERE/seed_bench.py" --base "$(base "$1")" --bin "$SRV" --database-url "sqlite://$db" \
    --bookings "$2" --out "$WORK/$1-seed.json" --tokens-out "$WORK/$1-tokens.txt" \
    >"$RESULTS/$1-seed.txt" 2>"$RESULTS/$1-seed.log" \
    || { echo "seeding $1 failed; see $RESULTS/$1-seed.log" >&2; exit 1; }
  stop_server "$1"
  say "seeded $1: $(python3 -c "import json; d=json.load(open('$WORK/$1-seed.json')); \
print({k: d[k] for k in ('bookings_total','bookings_future','bookings_future_confirmed','bookings_history','clients','seconds')})")"
}

seedval() { python3 -c "import json; d=json.load(open('$WORK/$1-seed.json')); print($2)"; }

post_line() { # NAME LABEL
  grep -E '^(BOOKINGS|CPU)' "$RESULTS/$1.txt" | sed "s/^/$2: /" | tee -a "$RESULTS/summary.txt"
}

say "work dir: $WORK; $(nproc) cores; wrk -t$THREADS -c$CONNS -d$DURATION (POST -d$POST_DURATION), warm-up $WARMUP, $ROUNDS rounds; nice $NICE"
say "binary: $BIN ($(stat -c %y "$BIN"))"

# ---- 1. databases ------------------------------------------------------------------------------
prepare_db small 1500
d0=$(seedval small "d['today_local']")
d1=$(date -d "$d0 + 7 days" +%F); d6=$(date -d "$d0 + 13 days" +%F)
if [ "${BENCH_BIG_KIND:-history}" = frontdesk ]; then
  sqlite3_copy() { python3 -c "import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d)" "$1" "$2"; }
  sqlite3_copy "$WORK/small.sqlite" "$WORK/big.sqlite"
  cp "$WORK/small-seed.json" "$WORK/big-seed.json"
  say "big = small + front-desk load from $d1 to $d6: $(python3 "$HERE/front_desk_load.py" "$WORK/big.sqlite" "$WORK/big-seed.json" "$d1" "$d6")"
else
  prepare_db big "$BIG"
fi
start_server small "$WORK/small.sqlite"
start_server big "$WORK/big.sqlite"

# ---- 2. GET /slots, interleaved rounds ----------------------------------------------------------
: >"$RESULTS/get_runs.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for scen in "1x1 c=$CONNS" "1x1 c=1" "10x7 c=$CONNS"; do
    for srv in small big; do
      type=$(seedval "$srv" "d['massage_types']['swedish']")
      therapist=$(seedval "$srv" "d['therapists'][0]")
      case $scen in
        1x1*) url="$(base "$srv")/api/v1/slots?massage_type_id=$type&duration_minutes=60&from=$d1&to=$d1&therapist_id=$therapist" ;;
        *) url="$(base "$srv")/api/v1/slots?massage_type_id=$type&duration_minutes=60&from=$d1&to=$d6" ;;
      esac
      c=${scen##*c=}
      run_get "$srv" "$scen" "$round" "$url" "$c"
    done
  done
done
python3 - "$RESULTS/get_runs.tsv" <<'EOF' | tee -a "$RESULTS/summary.txt"
import statistics, sys
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
runs = {}
for line in open(sys.argv[1]):
    srv, scen, rnd, rps, p50, p99, non2xx, other = line.rstrip("\n").split("\t")
    runs.setdefault((scen, srv), []).append((float(rps), ms(p50), ms(p99), int(non2xx)))
print("\nGET /slots medians over the rounds (req/s, p50 ms, p99 ms)")
for scen in dict.fromkeys(s for s, _ in runs):
    row = {}
    for srv in ("small", "big"):
        r = runs[(scen, srv)]
        row[srv] = (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r),
                    statistics.median(x[2] for x in r), sum(x[3] for x in r))
        print(f"  {scen:11} {srv:5} req/s={row[srv][0]:8.1f} p50={row[srv][1]:7.3f} p99={row[srv][2]:7.3f} "
              f"non2xx={row[srv][3]}  rounds: " + ", ".join(f"{x[0]:.0f}/{x[2]:.2f}ms" for x in r))
    print(f"  {scen:11} big/small: p50 x{row['big'][1] / row['small'][1]:.2f}, "
          f"p99 x{row['big'][2] / row['small'][2]:.2f}, req/s x{row['big'][0] / row['small'][0]:.2f}")
EOF
stop_server big
if [ "${BENCH_BIG_KIND:-history}" = frontdesk ]; then
  echo "results in $RESULTS"; exit 0
fi

# ---- 3. POST /bookings on the small database --------------------------------------------------
# Slices of the target list: 3000 warm-up, then per attempt C1 for the c=1 run and the rest
# shared equally by the attempts of the measured run.
ensure_server small || true
python3 "$HERE/booking_targets.py" --base "$(base small)" --seed-json "$WORK/small-seed.json" \
  --tokens "$WORK/small-tokens.txt" --from-day 1 --days 1090 --out "$WORK/targets-all.tsv" \
  | tee -a "$RESULTS/summary.txt"
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
ensure_server small || true
nice -n "$NICE" wrk -t"$THREADS" -c"$CONNS" -d2s --timeout 10s -s "$HERE/post_bookings.lua" \
  "$(base small)" -- "$WORK/targets-warmup.tsv" "$THREADS" >"$RESULTS/small-POST-warmup.txt"
# (c) C connections; a slice of 24,000+ targets suffices up to 2,400 bookings/s for 10 s
# (exhausted_threads in the output says if a thread ran out; the rate would then be too low).
measure small small-POST -t"$THREADS" -c"$CONNS" -d"$POST_DURATION" --timeout 10s --latency \
  -s "$HERE/post_bookings.lua" "$(base small)" -- "$WORK/targets-@ATTEMPT@.tsv" "$THREADS"
post_line small-POST "small POST c=$CONNS"
MAIN_FROM=$MEASURE_FROM MAIN_TO=$MEASURE_TO
# (d) one connection, no lock contention: the end-to-end cost of one booking. A 10,000-target
# slice suffices up to 2,000 bookings/s for 5 s.
measure small small-POST-c1 -t1 -c1 -d5s --timeout 10s --latency \
  -s "$HERE/post_bookings.lua" "$(base small)" -- "$WORK/targets-c1-@ATTEMPT@.tsv" 1
post_line small-POST-c1 "small POST c=1"
stop_server small
python3 - "$WORK/small.sqlite" "$MAIN_FROM" "$MAIN_TO" <<'EOF' | tee -a "$RESULTS/summary.txt"
import datetime as dt, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
# Cross-check of the wrk count: bookings whose created_at (taken inside the write transaction)
# falls between the start and the end of the kept measured wrk run.
made, first, last = con.execute(
    "SELECT count(*), min(created_at), max(created_at) FROM bookings WHERE created_at BETWEEN ? AND ?",
    (sys.argv[2], sys.argv[3])).fetchone()
p = lambda s: dt.datetime.fromisoformat(s)
span = (p(sys.argv[3]) - p(sys.argv[2])).total_seconds()
commits = (p(last) - p(first)).total_seconds() if made > 1 else float("nan")
print(f"small DB: {made} bookings committed during the kept measured POST run: {made / span:.1f}/s over "
      f"the run's {span:.2f} s, {made / commits:.1f}/s over first..last commit ({first} .. {last})")
n = con.execute("SELECT count(*) FROM bookings WHERE status='confirmed'").fetchone()[0]
overlaps = con.execute("""
  SELECT count(*) FROM bookings a JOIN bookings b
    ON a.therapist_id = b.therapist_id AND a.id < b.id
   AND b.start_at < a.blocked_until AND a.start_at < b.blocked_until
   AND b.start_at > datetime(a.start_at, '-10 hours')
  WHERE a.status = 'confirmed' AND b.status = 'confirmed'""").fetchone()[0]
print(f"small DB after the POST runs: confirmed bookings={n}, overlapping confirmed pairs={overlaps}")
EOF

say "server restarts after outside kills: $RESTARTS"
for log in "$RESULTS"/*-server.log; do
  say "$(basename "$log"): $(grep -c '"level":"ERROR"' "$log" || true) ERROR lines, $(grep -c '"level":"WARN"' "$log" || true) WARN lines"
done
echo "results in $RESULTS"
