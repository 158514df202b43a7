-- The waitlist pass looks, every second, for clients' holds that ran out unused.
CREATE INDEX holds_active_expiry ON holds (expires_at) WHERE status = 'active';
