-- Whether the user wants emails other than password resets.
ALTER TABLE users ADD COLUMN email_notifications BOOLEAN NOT NULL DEFAULT TRUE;

-- The email outbox: each message is written in the same transaction as the change that causes
-- it, rendered (subject, text, HTML, calendar part), then delivered at least once by the worker
-- that also delivers webhooks. Reminders wait here until their moment (`next_attempt_at`).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    booking_id TEXT REFERENCES bookings (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('booking_confirmed', 'booking_rescheduled',
        'booking_cancelled', 'booking_reminder', 'password_reset', 'waitlist_offer',
        'therapist_booking_changed')),
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    calendar TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_booking ON notifications (booking_id, kind);
