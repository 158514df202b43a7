#!/usr/bin/env python3
"""Seed a benchmark dataset into an Inspine SQLite database (python3 stdlib only).

The database must already be migrated and carry the catalog (2 locations, 3 massage types),
which `inspine serve` writes on its first start. This script adds:

* 10 therapists offering every massage type, Monday-Sunday 09:00-17:00 America/Vancouver;
  therapists 1-5 work at the first location, 6-10 at the second (no rooms);
* `--clients` client users (password hash is a placeholder: they never log in; the script
  mints their access tokens itself, HS256 JWTs signed with `--jwt-secret`);
* ~1500 bookings (`--future`) spread over the next 60 days (`--days`), placed at random
  15-minute grid starts inside the schedule, never overlapping per therapist including the
  massage type's buffer, ~95 % confirmed and ~5 % cancelled. The placement is deterministic
  for a given `--seed`, relative to today, so two databases seeded with the same seed have
  the same future calendar;
* with `--bookings N` > `--future`, the remaining N - future bookings as HISTORY (own RNG stream, so
  the future calendar is identical to the small variant): status
  'completed' (a few 'no_show'/'cancelled'), owned by the same 10 therapists, back to back
  every 75 minutes going back from yesterday (about 14 years for 1,000,000 bookings), so
  the bookings table is large while the future window still holds only ~1500 bookings.

It writes a JSON summary (`--out`) with the therapist/type/location ids and a token file
(`--tokens-out`, one `user_id token` per line).

Usage:
    scripts/seed_bench.py DB.sqlite --jwt-secret SECRET [--bookings 1500] [--out seed.json]
"""

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import sqlite3
import sys
import time
from zoneinfo import ZoneInfo

TZ = ZoneInfo("America/Vancouver")
UTC = dt.timezone.utc
N_THERAPISTS = 10
HISTORY_PERIOD_MIN = 75  # one historical booking slot: <= 60 min massage + <= 15 min buffer


def uuid7(ms: int, rnd: random.Random) -> str:
    """A UUIDv7 text id for the Unix time `ms` (time-ordered like the app's `new_id`)."""
    rand_a = rnd.getrandbits(12)
    rand_b = rnd.getrandbits(62)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    h = f"{value:032x}"
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def ts(t: dt.datetime) -> str:
    """diesel's SQLite Timestamp text: naive UTC 'YYYY-MM-DD HH:MM:SS'."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(secret: str, sub: str, role: str, ttl_s: int) -> str:
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {
        "sub": sub,
        "role": role,
        "iss": "inspine",
        "aud": "inspine-api",
        "iat": now,
        "exp": now + ttl_s,
    }
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def local(day: dt.date, minute: int) -> dt.datetime:
    """Wall-clock `minute` after local midnight on `day`, as an aware datetime (UTC)."""
    naive = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
    return naive.replace(tzinfo=TZ).astimezone(UTC)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db", help="path of the SQLite database (migrated and catalog-seeded)")
    ap.add_argument("--jwt-secret", required=True, help="the server's JWT_SECRET, to mint client tokens")
    ap.add_argument("--bookings", type=int, default=1500, help="total bookings (default 1500)")
    ap.add_argument("--future", type=int, default=1500, help="of which in the next --days days (default 1500)")
    ap.add_argument("--days", type=int, default=60, help="future window in days (default 60)")
    ap.add_argument("--clients", type=int, default=2000, help="client users to create (default 2000)")
    ap.add_argument("--token-ttl-hours", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="write a JSON summary here (default: stdout)")
    ap.add_argument("--tokens-out", default=None, help="write 'user_id token' lines here")
    args = ap.parse_args()

    t_begin = time.time()
    rnd = random.Random(args.seed)  # the future calendar: same for every --bookings
    hist = random.Random(args.seed + 2)  # the history
    idrnd = random.Random(args.seed + 1)
    con = sqlite3.connect(args.db, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 10000")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -262144")  # 256 MiB
    con.execute("PRAGMA foreign_keys = ON")

    locations = [r[0] for r in con.execute("SELECT id FROM locations ORDER BY name DESC")]  # Port Moody, Coquitlam
    types = {
        slug: (tid, buf)
        for tid, slug, buf in con.execute("SELECT id, slug, buffer_minutes FROM massage_types WHERE active = 1")
    }
    options = {}
    for tid, dur, price, cur in con.execute(
        "SELECT massage_type_id, duration_minutes, price_cents, currency FROM massage_type_options"
    ):
        options[(tid, dur)] = (price, cur)
    if len(locations) < 2 or len(types) < 3:
        sys.exit("the catalog is missing: start `inspine serve` once on this database first")
    if con.execute("SELECT count(*) FROM therapists").fetchone()[0]:
        sys.exit("this database already has therapists; seed a fresh one")

    now = dt.datetime.now(UTC).replace(microsecond=0)
    now_ms = int(now.timestamp() * 1000)
    now_s = ts(now)
    today = now.astimezone(TZ).date()

    con.execute("BEGIN")
    # ---- therapists, their types and weekly rules -------------------------------------------
    therapists = []
    for i in range(N_THERAPISTS):
        tid = uuid7(now_ms - 10_000 + i, idrnd)
        loc = locations[0] if i < N_THERAPISTS // 2 else locations[1]
        therapists.append({"id": tid, "location_id": loc})
        con.execute(
            "INSERT INTO therapists (id, name, bio, active, user_id, created_at, updated_at) "
            "VALUES (?, ?, ?, 1, NULL, ?, ?)",
            (tid, f"Bench Therapist {i + 1}", "benchmark data", now_s, now_s),
        )
        for type_id, _ in types.values():
            con.execute(
                "INSERT INTO therapist_massage_types (therapist_id, massage_type_id) VALUES (?, ?)",
                (tid, type_id),
            )
        for weekday in range(7):
            con.execute(
                "INSERT INTO schedule_rules (id, therapist_id, weekday, start_minute, end_minute, location_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (uuid7(now_ms - 9_000 + i * 7 + weekday, idrnd), tid, weekday, 9 * 60, 17 * 60, loc),
            )

    # ---- clients ------------------------------------------------------------------------------
    clients = []
    for i in range(args.clients):
        uid = uuid7(now_ms - 8_000, idrnd)
        clients.append(uid)
    con.executemany(
        "INSERT INTO users (id, email, password_hash, name, phone, role, created_at, updated_at) "
        "VALUES (?, ?, 'not-a-real-hash', ?, NULL, 'client', ?, ?)",
        [(uid, f"bench-client-{i}@bench.invalid", f"Bench Client {i}", now_s, now_s) for i, uid in enumerate(clients)],
    )

    insert_booking = (
        "INSERT INTO bookings (id, client_id, therapist_id, massage_type_id, location_id, room_id, "
        "start_at, end_at, blocked_until, duration_minutes, price_cents, currency, status, notes, "
        "sequence, created_at, updated_at, cancelled_at, cancel_reason) "
        "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, '', 0, ?, ?, ?, ?)"
    )
    type_list = [types[s] for s in sorted(types)]

    # ---- history (the past), inserted oldest first ---------------------------------------------
    n_future = min(args.future, args.bookings)
    n_history = args.bookings - n_future
    history_placed = 0
    if n_history > 0:
        per_t = -(-n_history // N_THERAPISTS)
        period = dt.timedelta(minutes=HISTORY_PERIOD_MIN)
        # The newest historical slot starts before yesterday's local midnight.
        anchor = local(today - dt.timedelta(days=1), 0) - period
        first = anchor - period * per_t
        hist_types = [(tid, buf) for tid, buf in type_list if buf <= 15]
        batch = []
        for k in range(per_t):
            base = first + period * k
            for ti, th in enumerate(therapists):
                if history_placed >= n_history:
                    break
                start = base + dt.timedelta(minutes=ti)  # stagger therapists a little
                type_id, buf = hist_types[hist.randrange(len(hist_types))]
                dur = 60 if hist.random() < 0.7 else 30
                end = start + dt.timedelta(minutes=dur)
                blocked = end + dt.timedelta(minutes=buf)
                price, cur = options[(type_id, dur)]
                r = hist.random()
                status = "completed" if r < 0.94 else ("cancelled" if r < 0.98 else "no_show")
                created = start - dt.timedelta(days=7)
                created_s = ts(created)
                cancelled_at = created_s if status == "cancelled" else None
                batch.append((
                    uuid7(int(created.timestamp() * 1000), idrnd),
                    clients[hist.randrange(len(clients))],
                    th["id"], type_id, th["location_id"],
                    ts(start), ts(end), ts(blocked), dur, price, cur, status,
                    created_s, ts(end), cancelled_at,
                    "bench" if status == "cancelled" else None,
                ))
                history_placed += 1
            if len(batch) >= 50_000:
                con.executemany(insert_booking, batch)
                batch.clear()
                print(f"  history: {history_placed}/{n_history}", file=sys.stderr, flush=True)
        if batch:
            con.executemany(insert_booking, batch)

    # ---- the future: ~n_future bookings in the next `days` days -------------------------------
    busy = {th["id"]: [] for th in therapists}
    future_rows = []
    attempts = 0
    while len(future_rows) < n_future and attempts < n_future * 50:
        attempts += 1
        ti = rnd.randrange(N_THERAPISTS)
        th = therapists[ti]
        day = today + dt.timedelta(days=1 + rnd.randrange(args.days))
        type_id, buf = type_list[rnd.randrange(len(type_list))]
        dur = [30, 60, 60, 90][rnd.randrange(4)]
        q = rnd.randrange((8 * 60 - dur - buf) // 15 + 1)  # grid starts whose massage + buffer fit
        start = local(day, 9 * 60 + q * 15)
        end = start + dt.timedelta(minutes=dur)
        blocked = end + dt.timedelta(minutes=buf)
        if blocked > local(day, 17 * 60):
            continue
        if any(s < blocked and start < b for s, b in busy[th["id"]]):
            continue
        busy[th["id"]].append((start, blocked))
        price, cur = options[(type_id, dur)]
        status = "cancelled" if rnd.random() < 0.05 else "confirmed"
        created = now - dt.timedelta(minutes=rnd.randrange(1, 30 * 24 * 60))
        future_rows.append((
            uuid7(now_ms - 5_000 + len(future_rows), idrnd),
            clients[rnd.randrange(len(clients))],
            th["id"], type_id, th["location_id"],
            ts(start), ts(end), ts(blocked), dur, price, cur, status,
            ts(created), ts(created),
            ts(created) if status == "cancelled" else None,
            "bench" if status == "cancelled" else None,
        ))
    con.executemany(insert_booking, future_rows)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    total = con.execute("SELECT count(*) FROM bookings").fetchone()[0]
    future_confirmed = con.execute(
        "SELECT count(*) FROM bookings WHERE status = 'confirmed' AND start_at > ?", (now_s,)
    ).fetchone()[0]
    con.close()

    ttl = args.token_ttl_hours * 3600
    if args.tokens_out:
        with open(args.tokens_out, "w") as f:
            for uid in clients:
                f.write(f"{uid} {mint_jwt(args.jwt_secret, uid, 'client', ttl)}\n")

    summary = {
        "today_local": today.isoformat(),
        "locations": locations,
        "massage_types": {slug: tid for slug, (tid, _) in types.items()},
        "therapists": [t["id"] for t in therapists],
        "clients": len(clients),
        "bookings_total": total,
        "bookings_future": len(future_rows),
        "bookings_future_confirmed": future_confirmed,
        "bookings_history": history_placed,
        "seconds": round(time.time() - t_begin, 1),
    }
    text = json.dumps(summary, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
