-- A therapist's hours on one local date, replacing that date's weekly rules: its rules below, or
-- none at all for a day off. The unique index serves the slot search's lookup by therapist and
-- date range.
CREATE TABLE schedule_overrides (
    id TEXT PRIMARY KEY NOT NULL,
    therapist_id TEXT NOT NULL REFERENCES therapists (id) ON DELETE CASCADE,
    date DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (therapist_id, date)
);

CREATE TABLE schedule_override_rules (
    id TEXT PRIMARY KEY NOT NULL,
    override_id TEXT NOT NULL REFERENCES schedule_overrides (id) ON DELETE CASCADE,
    start_minute INTEGER NOT NULL,
    end_minute INTEGER NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations (id),
    CHECK (start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute)
);
CREATE INDEX schedule_override_rules_override ON schedule_override_rules (override_id);
CREATE INDEX schedule_override_rules_location ON schedule_override_rules (location_id);

-- A span during which a location offers nothing (a holiday, a renovation), UTC.
CREATE TABLE location_closures (
    id TEXT PRIMARY KEY NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX location_closures_location_range ON location_closures (location_id, starts_at);
