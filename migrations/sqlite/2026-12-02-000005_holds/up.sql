-- A hold keeps a therapist (and room) for a client for a few minutes while they finish booking.
-- It blocks exactly like a confirmed booking (start to blocked_until, the type's buffer
-- included) while `status = 'active' AND expires_at > now`: expiry needs no write. `status`
-- records how it ended once that is known: released (by its client, staff, or the client's next
-- hold), consumed (booked: `booking_id`), or expired (found past `expires_at`, unused).
-- `purpose` keeps waitlist offers out of the one-active-hold-per-client rule.
-- On SQLite the check runs inside the booking writers' immediate transaction (the write lock is
-- held from the first read), so the busy times read there are exact; no trigger is needed.
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
CREATE INDEX holds_therapist_start ON holds (therapist_id, start_at) WHERE status = 'active';
CREATE INDEX holds_room_start ON holds (room_id, start_at) WHERE status = 'active';
CREATE INDEX holds_client ON holds (client_id, created_at);
-- One active hold of their own per client; a new one releases the previous in its transaction.
CREATE UNIQUE INDEX holds_one_active_per_client ON holds (client_id)
    WHERE status = 'active' AND purpose = 'client';
