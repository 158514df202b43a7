#!/usr/bin/env python3
"""Helpers for scripts/soak.sh (standard library only).

    soak.py prepare API MIXFILE     register clients, plan a mix of requests
    soak.py check DBFILE            exit 1 if two confirmed bookings of a therapist or room overlap
"""

import json
import random
import sqlite3
import sys
import urllib.request
from datetime import date, timedelta


def call(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def prepare(api, mixfile, clients=40, lines=60000):
    rng = random.Random(7)
    tokens = []
    with open(mixfile + ".clients", "w") as ids:
        for i in range(clients):
            reply = call("POST", f"{api}/auth/register",
                         {"email": f"soak{i}@soak.example", "password": "soak-password", "name": f"Soak {i}"})
            tokens.append(reply["access_token"])
            ids.write(f"{reply['user']['id']}\t{reply['access_token']}\n")
    types = call("GET", f"{api}/massage-types")["items"]
    feeds = [call("POST", f"{api}/me/calendar-token", token=t)["url"] for t in tokens[:5]]
    # Every offered slot of the next 60 days: the booking requests aim at them, so many succeed
    # and later ones for the same slot conflict (409), as in real traffic.
    targets = []
    today = date.today()
    for t in types:
        for opt in t["options"]:
            for week in range(0, 60, 30):
                start = today + timedelta(days=week + 1)
                end = start + timedelta(days=29)
                slots = call("GET", f"{api}/slots?massage_type_id={t['id']}&duration_minutes={opt['duration_minutes']}&from={start}&to={end}")
                for s in slots["items"]:
                    targets.append({"therapist_id": s["therapist_id"], "massage_type_id": t["id"],
                                    "duration_minutes": opt["duration_minutes"], "start": s["start"]})
    rng.shuffle(targets)
    with open(mixfile, "w") as out:
        for n in range(lines):
            roll = rng.random()
            token = rng.choice(tokens)
            if roll < 0.45:
                t = rng.choice(types)
                opt = rng.choice(t["options"])
                day = today + timedelta(days=rng.randint(1, 55))
                span = rng.choice([0, 0, 6])
                path = f"/api/v1/slots?massage_type_id={t['id']}&duration_minutes={opt['duration_minutes']}&from={day}&to={day + timedelta(days=span)}"
                out.write(f"GET\t-\t{path}\t-\n")
            elif roll < 0.70 and targets:
                body = json.dumps(targets[n % len(targets)])
                out.write(f"BOOK\t{token}\t/api/v1/bookings\t{body}\n")
            elif roll < 0.85:
                out.write(f"CANCEL\t-\t-\t-\n")
            else:
                out.write(f"GET\t-\t{rng.choice(feeds)}\t-\n")
    print(f"planned {lines} requests, {len(targets)} booking targets, {clients} clients")


def check(dbfile):
    db = sqlite3.connect(dbfile)
    clashes = db.execute("""
        SELECT COUNT(*) FROM bookings a JOIN bookings b
          ON a.id < b.id AND a.status = 'confirmed' AND b.status = 'confirmed'
         AND a.start_at < b.blocked_until AND b.start_at < a.blocked_until
         AND (a.therapist_id = b.therapist_id OR (a.room_id IS NOT NULL AND a.room_id = b.room_id))
    """).fetchone()[0]
    counts = dict(db.execute("SELECT status, COUNT(*) FROM bookings GROUP BY status").fetchall())
    print(f"bookings by status: {counts}; overlapping confirmed pairs: {clashes}")
    return 1 if clashes else 0


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
