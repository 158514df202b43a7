#!/usr/bin/env bash
# The booking page (/) in a real browser (issue 15): starts the binary on a free port with a fresh
# SQLite database and the demo data, installs the test's npm packages (playwright-core and
# axe-core, pinned in tests/browser/package-lock.json), and runs tests/browser/flow.mjs in
# Debian's headless chromium. Screenshots of every step go to target/browser-screenshots/.
# Exits non-zero on any failure, and when chromium, node or npm is missing (nothing is skipped).
#
#   cargo build --release && bash scripts/browser.sh
#   BIN=target/debug/inspine bash scripts/browser.sh     # iterate on web/ with a debug build
#   README_SCREENSHOT=$PWD/docs/booking-page.png bash scripts/browser.sh   # renew the README's picture
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/inspine}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SCREENSHOTS=${SCREENSHOTS:-$PWD/target/browser-screenshots}
[ -x "$BIN" ] || { echo "build the binary first: cargo build --release (or set BIN)" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "chromium is missing at $CHROMIUM: apt-get install -y chromium" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed: apt-get install -y nodejs npm" >&2; exit 1; }

# A free port: ask the kernel for one.
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')}
WORK=$(mktemp -d)
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A cancellation window of five days: the first week's times fall inside it (the late
# cancellation is refused) and the next week's outside (the flow's cancellation goes through).
export DATABASE_URL="sqlite://$WORK/db.sqlite" BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK" \
  JWT_SECRET=browser-test-secret-browser-test-secret RATE_LIMIT_ENABLED=false RUST_LOG=warn \
  LOG_FORMAT=json CLINIC_NAME="${CLINIC_NAME:-Inspine Therapy}" CANCELLATION_WINDOW_HOURS=120 \
  PUBLIC_BASE_URL="http://127.0.0.1:$PORT"
"$BIN" seed --demo >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null || { echo "the server did not become ready:" >&2; cat "$WORK/server.log" >&2; exit 1; }

(cd tests/browser && npm ci --silent --no-audit --no-fund)
rm -rf "$SCREENSHOTS"
status=0
(cd tests/browser && BASE_URL="http://127.0.0.1:$PORT" CHROMIUM="$CHROMIUM" SCREENSHOTS="$SCREENSHOTS" \
  README_SCREENSHOT="${README_SCREENSHOT:-}" MAIL_DIR="$WORK/mail" \
  node flow.mjs) || status=1
if grep '"level":"ERROR"' "$WORK/server.log" | grep -q '"target":"inspine'; then
  echo "the server logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/server.log" | head -20 >&2
  status=1
fi
exit $status
