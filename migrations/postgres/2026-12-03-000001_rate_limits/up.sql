-- Abuse limits shared by every instance on this database (SQLite keeps them in each process's
-- memory, see src/limits). One row per (bucket, key), changed by one atomic upsert per check:
--
-- * `auth` and `api` (key: the client's address or IPv6 /64): a GCRA rate limit, the same
--   algorithm as the in-memory limiter; `until` is the theoretical arrival time, `hits` unused.
-- * `login.pair` (key: a keyed hash of the account's email and the client) and `login.source`
--   (key: the client): failed logins in a row (`hits`), the back-off running `until`.
--
-- `touched_at` is the last change; rows whose `until` has passed and that were untouched for an
-- hour mean nothing any more and are deleted now and then by the instances themselves.
-- UNLOGGED: no WAL for a counter that may be lost in a crash (every client starts afresh).
CREATE UNLOGGED TABLE rate_limits (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    until TIMESTAMPTZ,
    hits INTEGER NOT NULL DEFAULT 0,
    touched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE INDEX rate_limits_touched ON rate_limits (touched_at);
