-- A hold keeps a therapist (and room) for a client for a few minutes while they finish booking.
-- It blocks exactly like a confirmed booking (start to blocked_until, the type's buffer
-- included) while `status = 'active' AND expires_at > now`: expiry needs no write. `status`
-- records how it ended once that is known: released (by its client, staff, or the client's next
-- hold), consumed (booked: `booking_id`), or expired (found past `expires_at`, unused).
-- `purpose` keeps waitlist offers out of the one-active-hold-per-client rule.
CREATE TABLE holds (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    therapist_id TEXT NOT NULL REFERENCES therapists (id) ON DELETE CASCADE,
    massage_type_id TEXT NOT NULL REFERENCES massage_types (id) ON DELETE CASCADE,
    location_id TEXT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    room_id TEXT REFERENCES rooms (id) ON DELETE CASCADE,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP NOT NULL,
    duration_minutes INTEGER NOT NULL,
    purpose TEXT NOT NULL DEFAULT 'client' CHECK (purpose IN ('client', 'waitlist')),
    status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'released', 'consumed', 'expired')),
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    booking_id TEXT REFERENCES bookings (id) ON DELETE SET NULL,
    CHECK (start_at < end_at AND end_at <= blocked_until)
);
CREATE INDEX holds_client ON holds (client_id, created_at);
-- One active hold of their own per client; a new one releases the previous in its transaction.
CREATE UNIQUE INDEX holds_one_active_per_client ON holds (client_id)
    WHERE status = 'active' AND purpose = 'client';
-- The guard's lookups, in the same shape as the bookings' exclusion constraints.
CREATE INDEX holds_therapist_claims ON holds
    USING gist (therapist_id, tsrange(start_at, blocked_until)) WHERE status = 'active';
CREATE INDEX holds_room_claims ON holds
    USING gist (room_id, tsrange(start_at, blocked_until))
    WHERE status = 'active' AND room_id IS NOT NULL;

-- The guard: bookings and holds are two tables, and an exclusion constraint sees one table and
-- cannot compare with now(), so the database checks holds with these triggers instead.
--
-- Every write that makes or moves a claim (a hold made, a booking confirmed or moved) first
-- takes a transaction-scoped advisory lock on its therapist, then on its room (always in that
-- order, so two writers cannot deadlock), and only then looks for an overlapping claim in the
-- other table (and, for a hold, among live holds). The lock is held until commit, so a second
-- writer of the same therapist or room waits for the first to commit, and in READ COMMITTED
-- its check (a new statement, a new snapshot) sees the first one's row: the check is exact,
-- whatever the application did before. A hold counts while it is active and unexpired by the
-- database's clock at the moment of the check, so an expired hold stops blocking by itself: no
-- sweeper, no write at expiry. Booking against booking stays with the exclusion constraints
-- of bookings. A violation is raised as an exclusion violation whose constraint name ends in
-- `_no_overlap`, which the application answers 409 like a taken slot.
CREATE FUNCTION inspine_lock_claims(therapist TEXT, room TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('inspine.claim.therapist:' || therapist, 0));
    IF room IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('inspine.claim.room:' || room, 0));
    END IF;
END
$$;

CREATE FUNCTION holds_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    span tsrange := tsrange(NEW.start_at, NEW.blocked_until);
BEGIN
    PERFORM inspine_lock_claims(NEW.therapist_id, NEW.room_id);
    IF EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.status = 'confirmed' AND b.therapist_id = NEW.therapist_id
          AND tsrange(b.start_at, b.blocked_until) && span
    ) OR (NEW.room_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.status = 'confirmed' AND b.room_id = NEW.room_id
          AND tsrange(b.start_at, b.blocked_until) && span
    )) OR EXISTS (
        SELECT 1 FROM holds h
        WHERE h.status = 'active' AND h.id <> NEW.id AND h.therapist_id = NEW.therapist_id
          AND tsrange(h.start_at, h.blocked_until) && span
          AND h.expires_at > (clock_timestamp() AT TIME ZONE 'UTC')
    ) OR (NEW.room_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM holds h
        WHERE h.status = 'active' AND h.id <> NEW.id AND h.room_id = NEW.room_id
          AND tsrange(h.start_at, h.blocked_until) && span
          AND h.expires_at > (clock_timestamp() AT TIME ZONE 'UTC')
    )) THEN
        RAISE EXCEPTION 'the held time overlaps another claim (holds_claim_no_overlap)'
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'holds_claim_no_overlap',
                  TABLE = 'holds';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER holds_guard
    BEFORE INSERT OR UPDATE OF therapist_id, room_id, start_at, blocked_until, status, expires_at
    ON holds FOR EACH ROW WHEN (NEW.status = 'active')
    EXECUTE FUNCTION holds_guard();

CREATE FUNCTION bookings_hold_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    span tsrange := tsrange(NEW.start_at, NEW.blocked_until);
BEGIN
    PERFORM inspine_lock_claims(NEW.therapist_id, NEW.room_id);
    IF EXISTS (
        SELECT 1 FROM holds h
        WHERE h.status = 'active' AND h.therapist_id = NEW.therapist_id
          AND tsrange(h.start_at, h.blocked_until) && span
          AND h.expires_at > (clock_timestamp() AT TIME ZONE 'UTC')
    ) OR (NEW.room_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM holds h
        WHERE h.status = 'active' AND h.room_id = NEW.room_id
          AND tsrange(h.start_at, h.blocked_until) && span
          AND h.expires_at > (clock_timestamp() AT TIME ZONE 'UTC')
    )) THEN
        RAISE EXCEPTION 'the booked time overlaps a hold (bookings_hold_no_overlap)'
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'bookings_hold_no_overlap',
                  TABLE = 'bookings';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER bookings_hold_guard
    BEFORE INSERT OR UPDATE OF therapist_id, room_id, start_at, blocked_until, status
    ON bookings FOR EACH ROW WHEN (NEW.status = 'confirmed')
    EXECUTE FUNCTION bookings_hold_guard();
