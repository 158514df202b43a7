#!/usr/bin/env bash
# What one booking's row costs PostgreSQL inside the database, with no client round trips (for
# BENCHMARKS.md): a fresh database with the demo data, then a DO block that inserts 4,000
# confirmed bookings of one therapist and room, each in its own transaction (COMMIT in the loop;
# synchronous_commit off in that session, so the figure is CPU rather than the disk's flush),
# timed with the claim triggers of HEAD and with those before migration
# 2026-12-08-000001_lighter_claim_triggers (its down.sql), alternately, ROUNDS times each.
#   scripts/pg_insert_bench.sh            # PG_BASE, INSPINE_BIN, ROUNDS (3) to override
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$(realpath "${INSPINE_BIN:-$HERE/../target/release/inspine}")
PG=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
ROUNDS=${ROUNDS:-3}
MIGRATION=$HERE/../migrations/postgres/2026-12-08-000001_lighter_claim_triggers
NAME=inspine_insertbench_$$
WORK=$(mktemp -d)
psql "$PG/postgres" -qc "CREATE DATABASE $NAME"
trap 'psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $NAME WITH (FORCE)"; rm -rf "$WORK"' EXIT
DATABASE_URL=$PG/$NAME DATA_DIR=$WORK JWT_SECRET=insert-bench-secret-insert-bench-secret-00 \
  HEALTH_DATA_KEY=$(printf '42%.0s' $(seq 32)) RUST_LOG=warn "$BIN" migrate >/dev/null
DATABASE_URL=$PG/$NAME DATA_DIR=$WORK JWT_SECRET=insert-bench-secret-insert-bench-secret-00 \
  HEALTH_DATA_KEY=$(printf '42%.0s' $(seq 32)) RUST_LOG=warn "$BIN" seed --demo >/dev/null
cat >"$WORK/insert.sql" <<'SQL'
SET synchronous_commit = off;
DO $$
DECLARE
  t TEXT; c TEXT; m TEXT; l TEXT; r TEXT; base TIMESTAMP := '2030-01-01 00:00';
BEGIN
  SELECT id INTO t FROM therapists ORDER BY id LIMIT 1;
  INSERT INTO users (id, email, password_hash, name, role, created_at, updated_at)
    VALUES (gen_random_uuid()::text, gen_random_uuid()::text || '@bench.invalid', 'x', 'C', 'client', now(), now())
    RETURNING id INTO c;
  SELECT id INTO m FROM massage_types ORDER BY id LIMIT 1;
  SELECT id INTO l FROM locations ORDER BY id LIMIT 1;
  SELECT id INTO r FROM rooms WHERE location_id = l ORDER BY id LIMIT 1;
  FOR i IN 1..4000 LOOP
    INSERT INTO bookings (id, client_id, therapist_id, massage_type_id, location_id, room_id,
      start_at, end_at, blocked_until, duration_minutes, price_cents, currency, status, notes,
      sequence, created_at, updated_at)
    VALUES (gen_random_uuid()::text, c, t, m, l, r, base + i * interval '2 hours',
      base + i * interval '2 hours' + interval '1 hour', base + i * interval '2 hours' + interval '1 hour',
      60, 9000, 'CAD', 'confirmed', '', 0, now(), now());
    COMMIT;
  END LOOP;
END $$;
SQL
run() { # LABEL
  psql "$PG/$NAME" -qc "DELETE FROM bookings WHERE start_at >= '2030-01-01'" -c "VACUUM bookings"
  local s e
  s=$(date +%s.%N)
  psql "$PG/$NAME" -q -v ON_ERROR_STOP=1 -f "$WORK/insert.sql"
  e=$(date +%s.%N)
  python3 -c "import sys; print(f'{sys.argv[1]:>7}: {(float(sys.argv[3]) - float(sys.argv[2])) / 4000 * 1e6:.0f} us per booking row (insert, triggers, commit)')" "$1" "$s" "$e"
}
for _ in $(seq "$ROUNDS"); do
  run HEAD
  psql "$PG/$NAME" -q -v ON_ERROR_STOP=1 -f "$MIGRATION/down.sql"
  run before
  psql "$PG/$NAME" -q -v ON_ERROR_STOP=1 -f "$MIGRATION/up.sql"
done
