-- A recurring series: one request that booked the same local wall-clock time every
-- `every_weeks` weeks, `count` times (the occurrences asked for; some may have been skipped).
-- Its bookings point back at it through bookings.series_id.
CREATE TABLE booking_series (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES users (id),
    therapist_id TEXT NOT NULL REFERENCES therapists (id),
    massage_type_id TEXT NOT NULL REFERENCES massage_types (id),
    duration_minutes INTEGER NOT NULL,
    every_weeks INTEGER NOT NULL CHECK (every_weeks BETWEEN 1 AND 4),
    count INTEGER NOT NULL CHECK (count BETWEEN 2 AND 12),
    -- Who made the request (the client, or staff on their behalf); kept when that login goes.
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX booking_series_client ON booking_series (client_id);

ALTER TABLE bookings ADD COLUMN series_id TEXT REFERENCES booking_series (id);
CREATE INDEX bookings_series ON bookings (series_id);
