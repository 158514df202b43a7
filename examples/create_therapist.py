#!/usr/bin/env python3
"""Create a therapist and their weekly schedule with a script token (standard library only).

    export INSPINE_URL=http://127.0.0.1:8080/api/v1
    export INSPINE_TOKEN=isp_...            # POST /api-tokens as an admin
    python3 examples/create_therapist.py "Maya Chen" \
        --types swedish,deep-tissue \
        --shift "monday-friday 09:00-13:00 Port Moody" \
        --shift "monday-friday 14:00-18:00 Coquitlam"

Prints the new therapist as JSON. Any API error is printed as its problem+json body and the
script exits non-zero, having changed nothing more than the steps before it.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def call(method, path, body=None):
    url = os.environ.get("INSPINE_URL", "http://127.0.0.1:8080/api/v1").rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Bearer " + os.environ["INSPINE_TOKEN"])
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        sys.exit(f"{method} {path} failed ({error.code}): {error.read().decode()}")


def all_items(path):
    items, cursor = [], None
    while True:
        page = call("GET", path + ("&" if "?" in path else "?") + "limit=100" + (f"&cursor={cursor}" if cursor else ""))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def weekdays(spec):
    if "-" in spec:
        first, last = spec.split("-")
        return WEEKDAYS[WEEKDAYS.index(first) : WEEKDAYS.index(last) + 1]
    return [spec]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--bio", default="")
    parser.add_argument("--types", required=True, help="comma-separated massage type slugs")
    parser.add_argument("--shift", action="append", required=True,
                        help='"DAYS HH:MM-HH:MM LOCATION NAME", e.g. "monday-friday 09:00-17:00 Coquitlam"')
    args = parser.parse_args()

    types = {t["slug"]: t["id"] for t in all_items("/massage-types?include_inactive=true")}
    locations = {l["name"]: l["id"] for l in all_items("/locations")}
    try:
        type_ids = [types[slug] for slug in args.types.split(",")]
    except KeyError as missing:
        sys.exit(f"unknown massage type {missing}; known: {', '.join(types)}")

    rules = []
    for shift in args.shift:
        days, hours, location = shift.split(" ", 2)
        start, end = hours.split("-")
        if location not in locations:
            sys.exit(f"unknown location {location!r}; known: {', '.join(locations)}")
        rules += [{"weekday": d, "start": start, "end": end, "location_id": locations[location]} for d in weekdays(days)]

    therapist = call("POST", "/therapists", {"name": args.name, "bio": args.bio, "massage_type_ids": type_ids})
    call("PUT", f"/therapists/{therapist['id']}/schedule", {"rules": rules})
    therapist["schedule"] = call("GET", f"/therapists/{therapist['id']}/schedule")["rules"]
    print(json.dumps(therapist, indent=2))


if __name__ == "__main__":
    main()
