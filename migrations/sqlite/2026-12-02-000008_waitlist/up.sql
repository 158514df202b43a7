-- The waitlist: a client waiting for a massage of one type and duration between two local dates
-- (inclusive), optionally with one therapist or at one location. When time frees up, the
-- oldest waiting entry that fits gets an offer: a hold (purpose 'waitlist') in its client's
-- name, recorded in `hold_id`. `status` is waiting, offered, booked, expired (its `to_date`
-- passed; also computed on read) or cancelled.
CREATE TABLE waitlist_entries (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    massage_type_id TEXT NOT NULL REFERENCES massage_types (id) ON DELETE CASCADE,
    duration_minutes INTEGER NOT NULL,
    from_date DATE NOT NULL,
    to_date DATE NOT NULL,
    therapist_id TEXT REFERENCES therapists (id) ON DELETE CASCADE,
    location_id TEXT REFERENCES locations (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'offered', 'booked', 'expired', 'cancelled')),
    hold_id TEXT REFERENCES holds (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (from_date <= to_date)
);
CREATE INDEX waitlist_entries_status ON waitlist_entries (status, created_at);
CREATE INDEX waitlist_entries_client ON waitlist_entries (client_id, created_at);
CREATE INDEX waitlist_entries_hold ON waitlist_entries (hold_id);
-- Times an entry was offered and let go (declined or expired unused): never offered to that
-- entry again.
CREATE TABLE waitlist_passed (
    entry_id TEXT NOT NULL REFERENCES waitlist_entries (id) ON DELETE CASCADE,
    therapist_id TEXT NOT NULL,
    start_at TIMESTAMP NOT NULL,
    PRIMARY KEY (entry_id, therapist_id, start_at)
);
