-- Clinical records. Intake answers and treatment notes are stored only as AEAD ciphertext
-- (XChaCha20-Poly1305 under HEALTH_DATA_KEY): `key_id` names the key a row was sealed with,
-- `nonce` is random per row, and the associated data binds the row's id and kind, so a
-- ciphertext copied into another row does not open. Nothing here is readable without the key.

-- Every PUT /me/intake adds a version; old versions are kept. The consent record is plain (it
-- is not health data and must be checkable without the key).
CREATE TABLE intake_versions (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES users (id),
    version INTEGER NOT NULL,
    form_version TEXT NOT NULL,
    consent_treatment BOOLEAN NOT NULL,
    privacy_policy_version TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    UNIQUE (client_id, version)
);

-- One note per booking (subjective, objective, assessment, plan, sealed together), written by
-- the booking's therapist. `client_id` and `therapist_id` are copied from the booking so that
-- "who may read" and the export need no join.
CREATE TABLE treatment_notes (
    id TEXT PRIMARY KEY NOT NULL,
    booking_id TEXT NOT NULL UNIQUE REFERENCES bookings (id),
    client_id TEXT NOT NULL REFERENCES users (id),
    therapist_id TEXT NOT NULL REFERENCES therapists (id),
    author_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
CREATE INDEX treatment_notes_client ON treatment_notes (client_id);

-- Who did or saw what, appended in the same transaction as the write (or before a read's
-- answer is sent). No foreign keys: the trail outlives the users and rows it names.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT,
    ip TEXT,
    request_id TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);
CREATE INDEX audit_events_subject ON audit_events (subject_id, id);

-- Append-only, also against a stray statement.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
