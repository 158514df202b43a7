#!/usr/bin/env python3
"""Build the POST /bookings work list for the booking load test (python3 stdlib only).

Asks the running server for its offered slots (GET /slots, 31-day windows, all therapists),
keeps per therapist a set of slots that do not overlap each other including the massage
type's buffer (greedy by start), so that every request in the list is a booking that can
really succeed (201) no matter in which order the connections send them. Shuffles the list
and assigns client tokens round-robin, so consecutive requests come from different clients.

Output: one line per booking, `<access token>\t<json body>` (read by post_bookings.lua).

Usage:
    scripts/booking_targets.py --base http://127.0.0.1:8088 --seed-json seed.json \
        --tokens tokens.txt --from-day 1 --days 730 --out targets.tsv
"""

import argparse
import datetime as dt
import json
import random
import sys
import urllib.request

def parse_utc(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8088")
    ap.add_argument("--seed-json", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--type", default="swedish")
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--buffer", type=int, default=None, help="the type's buffer (default: read from the API)")
    ap.add_argument("--from-day", type=int, default=1, help="first day, as days after today (local)")
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--limit", type=int, default=0, help="keep at most this many targets (0: all)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    seed = json.load(open(args.seed_json))
    type_id = seed["massage_types"][args.type]
    tokens = [line.split()[1] for line in open(args.tokens) if line.strip()]
    buffer = args.buffer
    if buffer is None:
        with urllib.request.urlopen(f"{args.base}/api/v1/massage-types/{type_id}") as r:
            buffer = json.load(r)["buffer_minutes"]

    today = dt.date.fromisoformat(seed["today_local"])
    first = today + dt.timedelta(days=args.from_day)
    last = first + dt.timedelta(days=args.days - 1)
    offered = 0
    slots_by_t = {}
    day = first
    while day <= last:
        to = min(day + dt.timedelta(days=30), last)
        url = (f"{args.base}/api/v1/slots?massage_type_id={type_id}&duration_minutes={args.duration}"
               f"&from={day.isoformat()}&to={to.isoformat()}")
        with urllib.request.urlopen(url) as r:
            items = json.load(r)["items"]
        offered += len(items)
        for it in items:
            slots_by_t.setdefault(it["therapist_id"], []).append(parse_utc(it["start"]))
        day = to + dt.timedelta(days=1)

    block = dt.timedelta(minutes=args.duration + buffer)
    targets = []
    for therapist_id, starts in slots_by_t.items():
        starts.sort()
        free_from = None
        for s in starts:
            if free_from is None or s >= free_from:
                targets.append((therapist_id, s))
                free_from = s + block
    rnd = random.Random(args.seed)
    rnd.shuffle(targets)
    if args.limit:
        targets = targets[: args.limit]
    with open(args.out, "w") as f:
        for i, (therapist_id, s) in enumerate(targets):
            body = json.dumps({
                "therapist_id": therapist_id,
                "massage_type_id": type_id,
                "duration_minutes": args.duration,
                "start": s.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }, separators=(",", ":"))
            f.write(f"{tokens[i % len(tokens)]}\t{body}\n")
    print(json.dumps({"offered_slots": offered, "targets": len(targets),
                      "window": [first.isoformat(), last.isoformat()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
