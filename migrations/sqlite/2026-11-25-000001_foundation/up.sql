CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    role TEXT NOT NULL CHECK (role IN ('client', 'therapist', 'admin')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE locations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    timezone TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE rooms (
    id TEXT PRIMARY KEY NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (location_id, name)
);

CREATE TABLE massage_types (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    buffer_minutes INTEGER NOT NULL CHECK (buffer_minutes >= 0),
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE massage_type_options (
    massage_type_id TEXT NOT NULL REFERENCES massage_types (id) ON DELETE CASCADE,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency TEXT NOT NULL,
    PRIMARY KEY (massage_type_id, duration_minutes)
);

CREATE TABLE therapists (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    bio TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    user_id TEXT UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE therapist_massage_types (
    therapist_id TEXT NOT NULL REFERENCES therapists (id) ON DELETE CASCADE,
    massage_type_id TEXT NOT NULL REFERENCES massage_types (id) ON DELETE CASCADE,
    PRIMARY KEY (therapist_id, massage_type_id)
);

CREATE TABLE schedule_rules (
    id TEXT PRIMARY KEY NOT NULL,
    therapist_id TEXT NOT NULL REFERENCES therapists (id) ON DELETE CASCADE,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute INTEGER NOT NULL,
    end_minute INTEGER NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations (id),
    CHECK (start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute)
);
CREATE INDEX schedule_rules_therapist ON schedule_rules (therapist_id);

CREATE TABLE time_off (
    id TEXT PRIMARY KEY NOT NULL,
    therapist_id TEXT NOT NULL REFERENCES therapists (id) ON DELETE CASCADE,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX time_off_therapist_range ON time_off (therapist_id, starts_at);
