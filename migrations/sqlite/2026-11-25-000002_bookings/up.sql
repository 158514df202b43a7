CREATE TABLE bookings (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES users (id),
    therapist_id TEXT NOT NULL REFERENCES therapists (id),
    massage_type_id TEXT NOT NULL REFERENCES massage_types (id),
    location_id TEXT NOT NULL REFERENCES locations (id),
    room_id TEXT REFERENCES rooms (id),
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    -- end_at plus the massage type's buffer: the therapist (and room) are busy until then.
    blocked_until TIMESTAMP NOT NULL,
    duration_minutes INTEGER NOT NULL,
    price_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled', 'completed', 'no_show')),
    notes TEXT NOT NULL DEFAULT '',
    sequence INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP,
    cancel_reason TEXT,
    CHECK (start_at < end_at AND end_at <= blocked_until)
);
CREATE INDEX bookings_therapist_start ON bookings (therapist_id, start_at);
CREATE INDEX bookings_room_start ON bookings (room_id, start_at);
CREATE INDEX bookings_client_start ON bookings (client_id, start_at);
CREATE INDEX bookings_start ON bookings (start_at, id);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
