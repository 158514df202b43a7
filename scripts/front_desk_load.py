#!/usr/bin/env python3
"""Adds front-desk load to a benchmark SQLite database seeded by scripts/seed_bench.py (python3
stdlib only), for `BENCH_BIG_KIND=frontdesk scripts/loadtest.sh`: inside the 10 therapists x 7
days window the slot benchmark searches (local dates FROM..TO), it writes

* 1 000 active holds (30 minutes each, expiring in a day), spread evenly over the therapists and
  dates at half-hour starts inside their 09:00-17:00 hours; purpose 'waitlist', so that the
  one-active-hold-per-client rule does not need 1 000 clients (the slot search reads every
  live hold alike);
* one date override per therapist and date (70): the same 09:00-17:00 split by a half-hour
  break at 12:30;
* 430 location closures of 15 minutes, spread over both locations and the window's days.

Written directly (the server must be stopped), as the API would write them. Usage:
    scripts/front_desk_load.py DB.sqlite SEED.json FROM TO
"""

import datetime as dt
import json
import os
import sqlite3
import sys
import uuid
from zoneinfo import ZoneInfo

HOLDS = 1000
CLOSURES = 430


def main() -> None:
    db, seed_path, first, last = sys.argv[1:5]
    seed = json.load(open(seed_path))
    first, last = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    con = sqlite3.connect(db)
    fmt = "%Y-%m-%d %H:%M:%S"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    zones = dict(con.execute("SELECT id, timezone FROM locations"))
    swedish = seed["massage_types"]["swedish"]
    clients = [r[0] for r in con.execute("SELECT id FROM users WHERE role = 'client' LIMIT 1000")]
    therapists = seed["therapists"]
    location_of = {
        t: con.execute(
            "SELECT location_id FROM schedule_rules WHERE therapist_id = ? LIMIT 1", (t,)
        ).fetchone()[0]
        for t in therapists
    }

    # Each day's local midnight as the server reads the zone (its time-zone database may differ
    # from this machine's), when seed_bench.py recorded it.
    midnight = {
        dt.date.fromisoformat(d): dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
        for d, t in seed.get("local_midnight_utc", {}).items()
    }

    def utc(day: dt.date, minute: int, location: str) -> dt.datetime:
        if day in midnight:
            return midnight[day] + dt.timedelta(minutes=minute)
        local = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
        aware = local.replace(tzinfo=ZoneInfo(zones[location]))
        return aware.astimezone(dt.UTC).replace(tzinfo=None)

    # FRONT_DESK_MORNINGS=1: holds of 15 minutes and the closures all fall between 09:00 and
    # 13:00, so that afternoons are still offered and the search answers about as many slots as
    # it does without the load (without it, the load leaves nothing to offer, and an empty
    # answer is cheaper to send than the unloaded one).
    mornings = os.environ.get("FRONT_DESK_MORNINGS") == "1"
    hold_minutes, grid, per_day = (15, 15, 16) if mornings else (30, 30, 16)

    # Holds: the (therapist, day, position) starts in a fixed stride order, 1 000 of 1 120.
    positions = [(t, d, 9 * 60 + grid * k) for d in days for t in therapists for k in range(per_day)]
    step = len(positions) / HOLDS
    holds = [positions[int(i * step)] for i in range(HOLDS)]
    for i, (therapist, day, minute) in enumerate(holds):
        location = location_of[therapist]
        start = utc(day, minute, location)
        end = start + dt.timedelta(minutes=hold_minutes)
        con.execute(
            "INSERT INTO holds (id, client_id, therapist_id, massage_type_id, location_id, room_id,"
            " start_at, end_at, blocked_until, duration_minutes, purpose, status, expires_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, 'waitlist', 'active', ?, ?)",
            (
                str(uuid.uuid4()),
                clients[i % len(clients)],
                therapist,
                swedish,
                location,
                start.strftime(fmt),
                end.strftime(fmt),
                end.strftime(fmt),
                hold_minutes,
                (now + dt.timedelta(days=1)).strftime(fmt),
                now.strftime(fmt),
            ),
        )
    overrides = 0
    for therapist in therapists:
        for day in days:
            override = str(uuid.uuid4())
            con.execute(
                "INSERT INTO schedule_overrides (id, therapist_id, date, created_at) VALUES (?, ?, ?, ?)",
                (override, therapist, day.isoformat(), now.strftime(fmt)),
            )
            for start, end in ((9 * 60, 12 * 60 + 30), (13 * 60, 17 * 60)):
                con.execute(
                    "INSERT INTO schedule_override_rules (id, override_id, start_minute, end_minute,"
                    " location_id) VALUES (?, ?, ?, ?, ?)",
                    (str(uuid.uuid4()), override, start, end, location_of[therapist]),
                )
            overrides += 1
    locations = sorted(set(location_of.values()))
    for i in range(CLOSURES):
        location = locations[i % len(locations)]
        day = days[(i // len(locations)) % len(days)]
        minute = 9 * 60 + 15 * ((i // (len(locations) * len(days))) * 5 % (16 if mornings else 32))
        start = utc(day, minute, location)
        con.execute(
            "INSERT INTO location_closures (id, location_id, starts_at, ends_at, reason, created_at)"
            " VALUES (?, ?, ?, ?, 'benchmark', ?)",
            (
                str(uuid.uuid4()),
                location,
                start.strftime(fmt),
                (start + dt.timedelta(minutes=15)).strftime(fmt),
                now.strftime(fmt),
            ),
        )
    con.commit()
    print(json.dumps({"holds": len(holds), "overrides": overrides, "closures": CLOSURES}))


if __name__ == "__main__":
    main()
