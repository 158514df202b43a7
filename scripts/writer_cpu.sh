#!/usr/bin/env bash
# The SQLite writer thread's CPU per booking over one scripts/post_bench.sh run (for
# BENCHMARKS.md): polls the server's `sqlite-writer` thread's utime+stime while the bench runs,
# then divides by the bookings made (the runs' 201s plus ~1,500 seeded). Seeding is counted
# too, so the figure is an upper bound; it is steadier than bookings/s on a shared machine.
#     scripts/writer_cpu.sh [BIN]        # BIN defaults to target/release/inspine
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$(realpath "${1:-$HERE/../target/release/inspine}")
LOG=$(mktemp)
(INSPINE_BIN=$BIN BENCH_RUNS=${BENCH_RUNS:-2} "$HERE/post_bench.sh" sqlite >"$LOG" 2>&1) &
JOB=$!
last=0
while kill -0 $JOB 2>/dev/null; do
  for task in $(pgrep -f "$BIN serve" | sed 's|.*|/proc/&/task/*|'); do
    for t in $task; do
      if [ "$(cat "$t/comm" 2>/dev/null)" = sqlite-writer ]; then
        v=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || true)
        [ -n "$v" ] && last=$v
      fi
    done
  done
  sleep 0.3
done
wait $JOB
made=$(grep -o 'created_201=[0-9]*' "$LOG" | cut -d= -f2 | paste -sd+ | bc)
hz=$(getconf CLK_TCK)
grep bookings_per_s "$LOG"
python3 -c "print(f'writer {$last / $hz:.1f} s CPU for {$made} + ~1500 bookings: {$last / $hz / ($made + 1500) * 1e6:.0f} us per booking')"
rm -f "$LOG"
