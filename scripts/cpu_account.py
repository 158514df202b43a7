#!/usr/bin/env python3
"""CPU accounting for one load run (used by loadtest.sh; python3 stdlib only).

    cpu_account.py SYS0 SYS1 SERVER0 SERVER1 WALL0 WALL1 "WRK_USER WRK_SYS" CLK_TCK

SYS* are "busy total" jiffies of /proc/stat's cpu line, SERVER* the server's utime+stime
ticks, WALL* epoch seconds, WRK_* the wrk process's user/system seconds (bash `time`).
Prints one line; percentages are of ONE core (the machine has `nproc` of them), and
"other" is whatever else ran on the machine meanwhile (machine - server - wrk).
"""

import sys


def main() -> None:
    s0, s1 = [list(map(int, a.split())) for a in sys.argv[1:3]]
    c0, c1, w0, w1 = map(float, sys.argv[3:7])
    wu, ws = map(float, sys.argv[7].split()[-2:])
    hz = float(sys.argv[8])
    wall = w1 - w0
    machine = (s1[0] - s0[0]) / hz / wall * 100
    server = (c1 - c0) / hz / wall * 100
    client = (wu + ws) / wall * 100
    other = max(machine - server - client, 0)
    print(f"CPU server={server:.0f}% wrk={client:.0f}% other={other:.0f}% "
          f"machine={machine:.0f}% (100% = one core) wall={wall:.1f}s")


if __name__ == "__main__":
    main()
