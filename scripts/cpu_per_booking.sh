#!/usr/bin/env bash
# CPU per booking over the timed runs of one scripts/post_bench.sh run, steadier than
# bookings/s on a shared machine (for BENCHMARKS.md). While the bench runs it polls the
# utime+stime of the server process (all threads), of its `sqlite-writer` thread (SQLite), and
# of every PostgreSQL process (PostgreSQL); readings taken when the first timed run starts (after
# seeding and warm-up) are subtracted from the last ones, and the difference is divided by the
# bookings the timed runs made (their 201s).
#     scripts/cpu_per_booking.sh sqlite|postgres://… [BIN]    # BIN: target/release/inspine
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGET=${1:?usage: cpu_per_booking.sh sqlite|postgres://… [BIN]}
BIN=$(realpath "${2:-$HERE/../target/release/inspine}")
LOG=$(mktemp)
STATE=$(mktemp -d)
trap 'rm -rf "$LOG" "$STATE"' EXIT
mkdir "$STATE/last" "$STATE/first"
ticks() { awk '{print $14 + $15}' "$1" 2>/dev/null || true; }
read_all() { # DIR: one file per process or thread, its ticks
  local dir=$1 pid t v
  for pid in $(pgrep -f "$BIN serve" || true); do
    v=$(ticks "/proc/$pid/stat"); [ -n "$v" ] && echo "$v" >"$dir/server"
    for t in /proc/$pid/task/*; do
      if [ "$(cat "$t/comm" 2>/dev/null)" = sqlite-writer ]; then
        v=$(ticks "$t/stat"); [ -n "$v" ] && echo "$v" >"$dir/writer"
      fi
    done
  done
  if [ "$TARGET" != sqlite ]; then
    for pid in $(pgrep -u postgres postgres || true); do
      v=$(ticks "/proc/$pid/stat"); [ -n "$v" ] && echo "$v" >"$dir/pg.$pid"
    done
  fi
  return 0
}
(INSPINE_BIN=$BIN BENCH_RUNS=${BENCH_RUNS:-2} "$HERE/post_bench.sh" "$TARGET" >"$LOG" 2>&1) &
JOB=$!
started=
while kill -0 $JOB 2>/dev/null; do
  if [ -z "$started" ] && grep -q -- '-- c=' "$LOG"; then read_all "$STATE/first"; started=1; fi
  [ -n "$started" ] && read_all "$STATE/last"
  sleep 0.2
done
wait $JOB
grep bookings_per_s "$LOG"
made=$(grep -o 'created_201=[0-9]*' "$LOG" | cut -d= -f2 | paste -sd+ | bc)
python3 - "$STATE" "$made" "$(getconf CLK_TCK)" <<'PY'
import os, sys
state, made, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def reading(kind, name):
    p = os.path.join(state, kind, name)
    return int(open(p).read()) if os.path.exists(p) else 0
def used(prefix):
    names = [n for n in os.listdir(os.path.join(state, "last")) if n.startswith(prefix)]
    if not names:
        return None
    return sum(reading("last", n) - reading("first", n) for n in names)
parts = [f"{made} bookings in the timed runs"]
for label, prefix in [("server", "server"), ("writer thread", "writer"), ("postgres", "pg.")]:
    t = used(prefix)
    if t is not None:
        parts.append(f"{label} {t / hz / made * 1e6:.0f} us")
print("CPU per booking: " + ", ".join(parts))
PY
