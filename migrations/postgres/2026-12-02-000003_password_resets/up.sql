-- Password-reset requests. Only the SHA-256 of the single-use token is kept (the raw token goes
-- out in the email); `used_at` is set once, by a conditional update, when a reset is confirmed
-- (and on every other outstanding reset of the user at the same moment). Rows stay after use:
-- the newest `created_at` per user is what limits reset emails to one a minute.
CREATE TABLE password_resets (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX password_resets_user ON password_resets (user_id, created_at);
