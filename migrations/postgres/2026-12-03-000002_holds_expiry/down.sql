DROP INDEX holds_active_expiry;
