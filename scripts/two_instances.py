#!/usr/bin/env python3
"""Two `inspine serve` instances on one PostgreSQL database behave as one (issue 14).

    cargo build --release
    python3 scripts/two_instances.py [--bin target/release/inspine] \
        [--pg postgres://postgres@127.0.0.1:5432/postgres] [--rounds 30] [--clients 64]

Creates a fresh database next to the one --pg names (with psql), migrates and seeds it with the
demo data, and starts two instances on it on different ports, with the same JWT secret, health
key and mail spool, rate limits on, and 127.0.0.1 as a trusted proxy (so each simulated client
has its own address in X-Forwarded-For, as behind a load balancer). Then checks:

  a. the race: every round, `--clients` clients (half to each instance, released together)
     book one slot: exactly one 201, the rest 409 `slot-unavailable`, no 5xx;
  b. right after each 201, a /slots search on the other instance does not offer that time;
  c. a webhook subscription (a local receiver): every booking.created event arrives exactly
     once over both instances' workers;
  d. the booking confirmation emails (one spool directory for both): exactly one per booking;
  e. the auth limit (10 a minute per client) is one budget over both instances: ten requests
     alternating between them pass, the eleventh is 429 with Retry-After.

Exits non-zero on any mismatch or on any error the servers logged; the servers are stopped and
the database dropped on exit. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

JWT_SECRET = "two-instances-secret-two-instances-secret"
HEALTH_KEY = "42" * 32
ADMIN_EMAIL = "admin@two-instances.example"
ADMIN_PASSWORD = "two-instances-admin-password"
CLIENT_PASSWORD = "two instances client password"

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr, flush=True)


def check(condition: bool, message: str) -> bool:
    if not condition:
        fail(message)
    return condition


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None


def request(origin: str, method: str, path: str, body=None, token=None, client_ip=None,
            timeout: float = 60) -> Response:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(origin + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if client_ip:
        req.add_header("x-forwarded-for", client_ip)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, err.headers, err.read())


# ---- the webhook receiver ------------------------------------------------------------------

received: list[dict] = []
received_lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        with received_lock:
            received.append({"webhook_id": self.headers.get("webhook-id"), "event": event})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


# ---- the servers ---------------------------------------------------------------------------

def database_url(base: str, name: str) -> str:
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def psql(admin_url: str, statement: str) -> None:
    subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement],
                   check=True, stdout=subprocess.DEVNULL)


def wait_ready(origin: str, process: subprocess.Popen, log: str) -> None:
    for _ in range(300):
        if process.poll() is not None:
            break
        try:
            if request(origin, "GET", "/ready", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    with open(log) as f:
        sys.stderr.write(f.read()[-4000:])
    raise SystemExit(f"{origin} did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default="target/release/inspine")
    parser.add_argument("--pg", default=os.environ.get(
        "TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--ports", default="18181,18182")
    args = parser.parse_args()

    binary = os.path.realpath(args.bin)
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"no binary at {args.bin}: cargo build --release first")
    work = tempfile.mkdtemp(prefix="inspine-two-")
    name = f"inspine_two_{uuid.uuid4().hex[:12]}"
    url = database_url(args.pg, name)
    ports = [int(p) for p in args.ports.split(",")]
    origins = [f"http://127.0.0.1:{p}" for p in ports]
    servers: list[subprocess.Popen] = []
    logs = [os.path.join(work, f"server{i}.log") for i in range(2)]
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()

    env = dict(os.environ)
    env.update({
        "DATABASE_URL": url,
        "JWT_SECRET": JWT_SECRET,
        "HEALTH_DATA_KEY": HEALTH_KEY,
        "DATA_DIR": work,
        "MAIL_SPOOL_DIR": os.path.join(work, "mail"),
        "RATE_LIMIT_ENABLED": "true",
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "ACCESS_TOKEN_TTL_MINUTES": "240",
        "MAX_FUTURE_BOOKINGS_PER_CLIENT": "1000",
        "BOOKING_HORIZON_DAYS": "730",
        "RUST_LOG": "warn",
        "LOG_FORMAT": "json",
    })
    env.pop("SMTP_URL", None)
    psql(args.pg, f'CREATE DATABASE "{name}"')
    try:
        subprocess.run([binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([binary, "seed", "--demo"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([binary, "user", "create", "--email", ADMIN_EMAIL, "--role", "admin"],
                       env=env, input=ADMIN_PASSWORD.encode(), check=True,
                       stdout=subprocess.DEVNULL)
        for i, port in enumerate(ports):
            server_env = dict(env, BIND_ADDR=f"127.0.0.1:{port}")
            with open(logs[i], "w") as log:
                servers.append(subprocess.Popen([binary, "serve"], env=server_env,
                                                stdout=log, stderr=subprocess.STDOUT))
        for origin, server, log in zip(origins, servers, logs):
            wait_ready(origin, server, log)
        run_checks(args, origins, receiver.server_address[1], os.path.join(work, "mail"))
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
        receiver.shutdown()
        for i, log in enumerate(logs):
            if not os.path.exists(log):
                continue
            with open(log) as f:
                errors = [line for line in f
                          if '"level":"ERROR"' in line and '"target":"inspine' in line]
            if errors:
                fail(f"instance {i} logged errors:\n" + "".join(errors[:20]))
        try:
            psql(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except subprocess.CalledProcessError:
            print(f"could not drop database {name}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"\n{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("\nall two-instance checks passed")
    return 0


# ---- the checks ----------------------------------------------------------------------------

def run_checks(args, origins: list[str], hook_port: int, spool: str) -> None:
    a, b = origins
    admin_ip = "10.200.0.1"
    login = request(a, "POST", "/api/v1/auth/login",
                    {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, client_ip=admin_ip)
    if not check(login.status == 200, f"admin login: {login.status} {login.raw[:300]!r}"):
        return
    admin = login.json["access_token"]

    # c. The subscription comes first, so every booking below has its event.
    hook = request(a, "POST", "/api/v1/webhooks",
                   {"url": f"http://127.0.0.1:{hook_port}/hook",
                    "events": ["booking.created"]}, token=admin, client_ip=admin_ip)
    check(hook.status == 201, f"webhook subscription: {hook.status} {hook.raw[:300]!r}")

    types = request(a, "GET", "/api/v1/massage-types", client_ip=admin_ip).json["items"]
    swedish = next(t for t in types if t["slug"] == "swedish")
    therapists = request(a, "GET", "/api/v1/therapists", client_ip=admin_ip).json["items"]
    therapist = next(t for t in therapists if t["name"] == "Maya Chen")

    # The clients, each with an address of its own (X-Forwarded-For through the trusted
    # proxy): registration is an auth request, 10 a minute per client.
    print(f"== registering {args.clients} clients", flush=True)
    clients: list[dict] = []
    lock = threading.Lock()

    def register(i: int) -> None:
        email = f"racer{i}@two-instances.example"
        ip = f"10.201.{i // 250}.{i % 250 + 1}"
        resp = request(origins[i % 2], "POST", "/api/v1/auth/register",
                       {"email": email, "password": CLIENT_PASSWORD, "name": f"Racer {i}"},
                       client_ip=ip)
        if check(resp.status == 201, f"register {email}: {resp.status} {resp.raw[:200]!r}"):
            with lock:
                clients.append({"i": i, "email": email, "ip": ip,
                                "token": resp.json["access_token"],
                                "id": resp.json["user"]["id"]})

    run_threads([lambda i=i: register(i) for i in range(args.clients)], limit=8)
    if len(clients) != args.clients:
        return
    clients.sort(key=lambda c: c["i"])

    # a + b. The race, round after round, each for the first slot still offered.
    today = dt.date.today()
    offset = 1  # the search window: 28 days from today + offset, moved on when it is full

    def search() -> str:
        first, last = today + dt.timedelta(days=offset), today + dt.timedelta(days=offset + 27)
        return (f"/api/v1/slots?massage_type_id={swedish['id']}&duration_minutes=60"
                f"&therapist_id={therapist['id']}&from={first}&to={last}")
    print(f"== {args.rounds} rounds of {args.clients} clients racing for one slot", flush=True)
    booked: list[dict] = []
    statuses_seen: collections.Counter = collections.Counter()
    for round_ in range(args.rounds):
        slots = request(a, "GET", search(), client_ip=admin_ip)
        while slots.status == 200 and not slots.json["items"] and offset < 700:
            offset += 28
            slots = request(a, "GET", search(), client_ip=admin_ip)
        if not check(slots.status == 200 and slots.json["items"],
                     f"round {round_}: no slot offered ({slots.status})"):
            return
        start = slots.json["items"][0]["start"]
        body = {"therapist_id": therapist["id"], "massage_type_id": swedish["id"],
                "duration_minutes": 60, "start": start}
        answers: list[tuple[int, Response]] = []
        barrier = threading.Barrier(len(clients))

        def race(client: dict) -> None:
            barrier.wait()
            instance = client["i"] % 2
            resp = request(origins[instance], "POST", "/api/v1/bookings", body,
                           token=client["token"], client_ip=client["ip"])
            with lock:
                answers.append((instance, resp, client))

        run_threads([lambda c=c: race(c) for c in clients], limit=len(clients))
        statuses = collections.Counter(resp.status for _, resp, _ in answers)
        statuses_seen.update(statuses)
        created = [(instance, resp, client) for instance, resp, client in answers
                   if resp.status == 201]
        losers_ok = all(resp.status == 409 and resp.json
                        and resp.json.get("type", "").endswith("/slot-unavailable")
                        for _, resp, _ in answers if resp.status != 201)
        check(len(created) == 1 and statuses[409] == len(clients) - 1 and losers_ok,
              f"round {round_} ({start}): {dict(statuses)}, expected 1×201 and "
              f"{len(clients) - 1}×409 slot-unavailable")
        check(not any(s >= 500 for s in statuses), f"round {round_}: server errors {dict(statuses)}")
        for instance, resp, client in created:
            booked.append({"id": resp.json["id"], "email": client["email"], "start": start})
            # b. Right after the 201, the other instance does not offer the time.
            other = origins[1 - instance]
            after = request(other, "GET", search(), client_ip=admin_ip)
            offered = {s["start"] for s in after.json["items"]} if after.status == 200 else set()
            check(after.status == 200 and start not in offered,
                  f"round {round_}: instance {1 - instance} still offers {start} after the "
                  f"201 on instance {instance} ({after.status})")
    print(f"   statuses over all rounds: {dict(statuses_seen)}", flush=True)

    # c. Every booking.created event exactly once, whichever instance's worker sent it.
    expected = {b["id"] for b in booked}
    settle(lambda: {e["event"].get("data", {}).get("id") for e in snapshot()} >= expected,
           "webhook deliveries")
    time.sleep(3)  # long enough for a duplicate (the workers poll every second) to show up
    events = snapshot()
    ids = collections.Counter(e["webhook_id"] for e in events)
    per_booking = collections.Counter(e["event"].get("data", {}).get("id") for e in events
                                      if e["event"].get("type") == "booking.created")
    check(all(n == 1 for n in ids.values()),
          f"webhook messages delivered more than once: {[k for k, n in ids.items() if n > 1]}")
    check(all(per_booking[i] == 1 for i in expected) and set(per_booking) == expected,
          f"booking.created events per booking: {dict(per_booking)} (expected each of "
          f"{len(expected)} once)")
    print(f"== webhooks: {len(events)} deliveries for {len(expected)} bookings", flush=True)

    # d. One confirmation email per booking, over both instances' mail workers.
    wanted = collections.Counter(b["email"] for b in booked)
    settle(lambda: mails_to(spool, wanted) == wanted, "confirmation emails")
    time.sleep(3)
    got = mails_to(spool, wanted)
    check(got == wanted, f"emails per client: {dict(got)}, expected {dict(wanted)}")
    print(f"== emails: {sum(got.values())} for {len(booked)} bookings", flush=True)

    # e. The auth limit is one budget over both instances.
    ip = "10.202.0.1"
    answers = [request(origins[i % 2], "POST", "/api/v1/auth/refresh",
                       {"refresh_token": "not-a-token"}, client_ip=ip) for i in range(10)]
    check(all(r.status == 401 for r in answers),
          f"auth requests 1–10 alternating instances: {[r.status for r in answers]}")
    eleventh = request(b, "POST", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"},
                       client_ip=ip)
    check(eleventh.status == 429 and eleventh.headers.get("retry-after"),
          f"the 11th auth request (instance B): {eleventh.status}, expected 429 with Retry-After")
    twelfth = request(a, "POST", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"},
                      client_ip=ip)
    check(twelfth.status == 429, f"the 12th auth request (instance A): {twelfth.status}")
    print("== limits: the 11th auth request over both instances is "
          f"{eleventh.status} (Retry-After {eleventh.headers.get('retry-after')})", flush=True)


def snapshot() -> list[dict]:
    with received_lock:
        return list(received)


def mails_to(spool: str, wanted) -> collections.Counter:
    found: collections.Counter = collections.Counter()
    if not os.path.isdir(spool):
        return found
    for entry in os.listdir(spool):
        if not entry.endswith(".eml"):
            continue
        with open(os.path.join(spool, entry), errors="replace") as f:
            head = f.read().split("\n\n", 1)[0].split("\r\n\r\n", 1)[0]
        for line in head.splitlines():
            if line.lower().startswith("to:"):
                for email in wanted:
                    if email in line:
                        found[email] += 1
    return found


def settle(done, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.5)
    fail(f"{what}: not complete after {timeout:.0f} s")


def run_threads(jobs, limit: int) -> None:
    """Runs the jobs on `limit` threads at a time (all at once when limit >= len(jobs))."""
    pending = list(jobs)
    while pending:
        batch, pending = pending[:limit], pending[limit:]
        threads = [threading.Thread(target=job) for job in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


if __name__ == "__main__":
    sys.exit(main())
