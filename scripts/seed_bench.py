#!/usr/bin/env python3
"""Seed a benchmark dataset through the Inspine binary and its HTTP API (python3 stdlib only).

Needs a running server (`--base`) started with RATE_LIMIT_ENABLED=false on a database that
carries the catalog (2 locations, 3 massage types; `inspine serve` writes it on first start),
and the binary (`--bin`) to create the admin login with `inspine user create` on the same
database (`--database-url`; the CLI reads the rest of its configuration, e.g. JWT_SECRET, from
the environment). Through the API, as that admin, it adds:

* 10 therapists offering every massage type, Monday-Sunday 09:00-17:00 at their location;
  therapists 1-5 work at the first location, 6-10 at the second (no rooms);
* `--clients` client users, registered through /auth/register; their access tokens (the
  server's ACCESS_TOKEN_TTL_MINUTES applies) go to `--tokens-out`;
* ~1500 bookings (`--future`) spread over the next 60 days (`--days`), made by random clients at
  random 15-minute grid starts inside the schedule, never overlapping per therapist including the
  massage type's buffer; ~5 % are then cancelled. The placement is deterministic for a given
  `--seed`, relative to today, so two databases seeded with the same seed have the same future
  calendar. The server must accept them (BOOKING_HORIZON_DAYS above `--days`, a
  MAX_FUTURE_BOOKINGS_PER_CLIENT that the random spread does not exceed); any refusal stops
  the script.

With `--bookings N` > `--future`, the remaining N - future bookings are HISTORY (own RNG stream,
so the future calendar is identical to the small variant): status 'completed' (a few
'no_show'/'cancelled'), owned by the same 10 therapists, back to back every 75 minutes going
back from yesterday (about 14 years for 1,000,000 bookings). The API refuses starts in the past,
so these are the one part written to the database directly (SQLite only): each is a copy of a
booking the API made, with only its id, client, therapist, type, location, times, price and
status replaced. Columns added by later migrations are thus copied from that booking; if a
replaced column is missing the script stops instead of writing guesses.

It writes a JSON summary (`--out`, and stdout) with the therapist/type/location ids and a token
file (`--tokens-out`, one `user_id token` per line).

Usage:
    scripts/seed_bench.py --base http://127.0.0.1:8080 --bin target/release/inspine \\
        --database-url sqlite:///tmp/bench.sqlite [--bookings 1500] [--out seed.json] \\
        [--tokens-out tokens.txt]
"""

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
N_THERAPISTS = 10
HISTORY_PERIOD_MIN = 75  # one historical booking slot: <= 60 min massage + <= 15 min buffer
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ADMIN_EMAIL = "bench-admin@bench.invalid"
PASSWORD = "bench runner passphrase"


class Api:
    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def call(self, method: str, path: str, body=None, token=None, ok=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        if status not in ok:
            sys.exit(f"{method} {path}: HTTP {status}: {raw.decode(errors='replace')[:500]}")
        return json.loads(raw) if raw else None

    def all_pages(self, path: str, token=None):
        items, cursor = [], None
        while True:
            sep = "&" if "?" in path else "?"
            page = self.call("GET", f"{path}{sep}limit=100" + (f"&cursor={cursor}" if cursor else ""), token=token)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def uuid7(ms: int, rnd: random.Random) -> str:
    """A UUIDv7 text id for the Unix time `ms` (time-ordered like the app's own ids)."""
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rnd.getrandbits(12) << 64 | 0b10 << 62 | rnd.getrandbits(62)
    return str(uuid.UUID(int=value))


def local(tz: ZoneInfo, day: dt.date, minute: int) -> dt.datetime:
    """Wall-clock `minute` after local midnight on `day`, as an aware datetime (UTC)."""
    naive = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC)


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ts(t: dt.datetime) -> str:
    """diesel's SQLite Timestamp text: naive UTC 'YYYY-MM-DD HH:MM:SS'."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def create_admin(binary: str, database_url: str) -> None:
    env = dict(os.environ, DATABASE_URL=database_url)
    done = subprocess.run(
        [binary, "user", "create", "--email", ADMIN_EMAIL, "--role", "admin", "--name", "Bench Admin"],
        input=PASSWORD + "\n", text=True, env=env, capture_output=True,
    )
    if done.returncode != 0:
        reason = done.stderr.strip() or done.stdout.strip()
        hint = " (seeded before? seed a fresh database)" if "UNIQUE" in reason or "unique" in reason else ""
        sys.exit(f"`inspine user create` failed{hint}: {reason}")


def write_history(db_path, template_id, n_history, therapists, types, prices, clients, today, tz, hist):
    """The past bookings, as copies of the booking `template_id` (see the module doc)."""
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 10000")
    con.execute("PRAGMA foreign_keys = ON")
    columns = [row[1] for row in con.execute("PRAGMA table_info(bookings)")]
    replaced = ["id", "client_id", "therapist_id", "massage_type_id", "location_id", "start_at",
                "end_at", "blocked_until", "duration_minutes", "price_cents", "currency", "status",
                "created_at", "updated_at", "cancelled_at", "cancel_reason"]
    missing = [c for c in replaced if c not in columns]
    if missing:
        sys.exit(f"the bookings table has no column(s) {missing}: update the history step of seed_bench.py")
    kept = [c for c in columns if c not in replaced]
    insert = (
        f"INSERT INTO bookings ({', '.join(replaced + kept)}) "
        f"SELECT {', '.join('?' for _ in replaced)}{''.join(', ' + c for c in kept)} "
        "FROM bookings WHERE id = ?"
    )
    per_t = -(-n_history // N_THERAPISTS)
    period = dt.timedelta(minutes=HISTORY_PERIOD_MIN)
    # The newest historical slot starts before yesterday's local midnight.
    anchor = local(tz, today - dt.timedelta(days=1), 0) - period
    first = anchor - period * per_t
    hist_types = [(tid, buf) for tid, buf in types if buf <= 15]
    placed, batch = 0, []
    con.execute("BEGIN")
    for k in range(per_t):
        base = first + period * k
        for ti, th in enumerate(therapists):
            if placed >= n_history:
                break
            start = base + dt.timedelta(minutes=ti)  # stagger therapists a little
            type_id, buf = hist_types[hist.randrange(len(hist_types))]
            dur = 60 if hist.random() < 0.7 else 30
            end = start + dt.timedelta(minutes=dur)
            price, cur = prices[(type_id, dur)]
            r = hist.random()
            status = "completed" if r < 0.94 else ("cancelled" if r < 0.98 else "no_show")
            created_at = start - dt.timedelta(days=7)
            created = ts(created_at)
            batch.append((
                uuid7(int(created_at.timestamp() * 1000), hist),
                clients[hist.randrange(len(clients))],
                th["id"], type_id, th["location_id"],
                ts(start), ts(end), ts(end + dt.timedelta(minutes=buf)), dur, price, cur, status,
                created, ts(end), created if status == "cancelled" else None,
                "bench" if status == "cancelled" else None,
                template_id,
            ))
            placed += 1
        if len(batch) >= 50_000:
            con.executemany(insert, batch)
            batch.clear()
            print(f"  history: {placed}/{n_history}", file=sys.stderr, flush=True)
    if batch:
        con.executemany(insert, batch)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return placed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the running server, e.g. http://127.0.0.1:8080")
    ap.add_argument("--bin", required=True, help="the inspine binary (for `inspine user create`)")
    ap.add_argument("--database-url", required=True, help="the server's DATABASE_URL")
    ap.add_argument("--bookings", type=int, default=1500, help="total bookings (default 1500)")
    ap.add_argument("--future", type=int, default=1500, help="of which in the next --days days (default 1500)")
    ap.add_argument("--days", type=int, default=60, help="future window in days (default 60)")
    ap.add_argument("--clients", type=int, default=2000, help="client users to register (default 2000)")
    ap.add_argument("--workers", type=int, default=4, help="concurrent registrations (default 4)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="also write the JSON summary here")
    ap.add_argument("--tokens-out", default=None, help="write 'user_id token' lines here")
    args = ap.parse_args()

    t_begin = time.time()
    rnd = random.Random(args.seed)  # the future calendar: same for every --bookings
    hist = random.Random(args.seed + 2)  # the history
    api = Api(args.base)
    n_future = min(args.future, args.bookings)
    n_history = args.bookings - n_future
    db_path = None
    if n_history > 0:
        if not args.database_url.startswith("sqlite://"):
            sys.exit("history bookings (--bookings > --future) need a SQLite database")
        db_path = args.database_url[len("sqlite://"):]

    create_admin(args.bin, args.database_url)
    admin = api.call("POST", "/api/v1/auth/login", {"email": ADMIN_EMAIL, "password": PASSWORD})["access_token"]

    locs = sorted(api.all_pages("/api/v1/locations"), key=lambda l: l["name"], reverse=True)  # Port Moody, Coquitlam
    mtypes = [t for t in api.all_pages("/api/v1/massage-types") if t["active"]]
    if len(locs) < 2 or len(mtypes) < 3:
        sys.exit("the catalog is missing: start `inspine serve` once on this database first")
    if api.all_pages("/api/v1/therapists?include_inactive=true", token=admin):
        sys.exit("this database already has therapists; seed a fresh one")
    tz = ZoneInfo(locs[0]["timezone"])
    if any(l["timezone"] != locs[0]["timezone"] for l in locs[:2]):
        sys.exit("the two locations are in different time zones; the placement assumes one")
    types = {t["slug"]: (t["id"], t["buffer_minutes"]) for t in mtypes}
    prices = {(t["id"], o["duration_minutes"]): (o["price_cents"], o["currency"]) for t in mtypes for o in t["options"]}
    type_list = [types[s] for s in sorted(types)]

    now = dt.datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(tz).date()

    # ---- therapists and their weekly rules ----------------------------------------------------
    therapists = []
    for i in range(N_THERAPISTS):
        loc = locs[0]["id"] if i < N_THERAPISTS // 2 else locs[1]["id"]
        made = api.call("POST", "/api/v1/therapists", {
            "name": f"Bench Therapist {i + 1}", "bio": "benchmark data",
            "massage_type_ids": [tid for tid, _ in type_list],
        }, token=admin)
        api.call("PUT", f"/api/v1/therapists/{made['id']}/schedule", {"rules": [
            {"weekday": w, "start": "09:00", "end": "17:00", "location_id": loc} for w in WEEKDAYS
        ]}, token=admin)
        therapists.append({"id": made["id"], "location_id": loc})

    # ---- each day's 09:00 as the server reads it ----------------------------------------------
    # The server's time-zone database may differ from this machine's (jiff bundles its own; a
    # zone's rules can change between releases, as British Columbia's did), so local wall-clock
    # times are placed from the server's own answer: the first slot of a fresh therapist's day is
    # its 09:00. Days it offers nothing fall back to Python's zoneinfo.
    opening = {}
    for offset in range(args.days + 2):
        day = today + dt.timedelta(days=offset)
        slots = api.call("GET", f"/api/v1/slots?massage_type_id={type_list[0][0]}&duration_minutes=30"
                         f"&therapist_id={therapists[0]['id']}&from={day}&to={day}")["items"]
        if slots and day > today:
            first = dt.datetime.fromisoformat(slots[0]["start"].replace("Z", "+00:00"))
            opening[day] = first - dt.timedelta(minutes=9 * 60)

    def local_on_server(day: dt.date, minute: int) -> dt.datetime:
        if day in opening:
            return opening[day] + dt.timedelta(minutes=minute)
        return local(tz, day, minute)

    # ---- clients ------------------------------------------------------------------------------
    def register(i):
        out = api.call("POST", "/api/v1/auth/register", {
            "email": f"bench-client-{i}@bench.invalid", "password": PASSWORD, "name": f"Bench Client {i}",
        })
        return out["user"]["id"], out["access_token"]

    with concurrent.futures.ThreadPoolExecutor(max(1, args.workers)) as pool:
        clients = list(pool.map(register, range(args.clients)))
    print(f"  registered {len(clients)} clients", file=sys.stderr, flush=True)

    # ---- the future: ~n_future bookings in the next `days` days -------------------------------
    busy = {th["id"]: [] for th in therapists}
    made_future, cancelled, template = 0, 0, None
    attempts = 0
    while made_future < n_future and attempts < n_future * 50:
        attempts += 1
        th = therapists[rnd.randrange(N_THERAPISTS)]
        day = today + dt.timedelta(days=1 + rnd.randrange(args.days))
        type_id, buf = type_list[rnd.randrange(len(type_list))]
        dur = [30, 60, 60, 90][rnd.randrange(4)]
        q = rnd.randrange((8 * 60 - dur - buf) // 15 + 1)  # grid starts whose massage + buffer fit
        start = local_on_server(day, 9 * 60 + q * 15)
        blocked = start + dt.timedelta(minutes=dur + buf)
        if blocked > local_on_server(day, 17 * 60):
            continue
        if any(s < blocked and start < b for s, b in busy[th["id"]]):
            continue
        busy[th["id"]].append((start, blocked))
        cancel = rnd.random() < 0.05
        # Formerly the booking's backdated creation time; still drawn so that a seed gives the
        # same calendar (starts, therapists, types, cancellations, clients) as before.
        rnd.randrange(1, 30 * 24 * 60)
        _, token = clients[rnd.randrange(len(clients))]
        booking = api.call("POST", "/api/v1/bookings", {
            "therapist_id": th["id"], "massage_type_id": type_id, "duration_minutes": dur,
            "start": rfc3339(start),
        }, token=token)
        if cancel:
            api.call("POST", f"/api/v1/bookings/{booking['id']}/cancel", {"reason": "bench"}, token=admin)
            cancelled += 1
        elif template is None:
            template = booking["id"]
        made_future += 1
        if made_future % 500 == 0:
            print(f"  future: {made_future}/{n_future}", file=sys.stderr, flush=True)

    history_placed = 0
    if n_history > 0:
        if template is None:
            sys.exit("history needs at least one confirmed future booking to copy")
        history_placed = write_history(db_path, template, n_history, therapists, type_list, prices,
                                       [uid for uid, _ in clients], today, tz, hist)

    if args.tokens_out:
        with open(args.tokens_out, "w") as f:
            for uid, token in clients:
                f.write(f"{uid} {token}\n")

    summary = {
        "today_local": today.isoformat(),
        "locations": [l["id"] for l in locs],
        "massage_types": {slug: tid for slug, (tid, _) in types.items()},
        "therapists": [t["id"] for t in therapists],
        # Each day's local midnight in UTC as the server reads the zone (see `opening` above).
        "local_midnight_utc": {str(d): rfc3339(t) for d, t in opening.items()},
        "clients": len(clients),
        "bookings_total": made_future + history_placed,
        "bookings_future": made_future,
        "bookings_future_confirmed": made_future - cancelled,
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
