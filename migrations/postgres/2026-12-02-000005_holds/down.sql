DROP TRIGGER bookings_hold_guard ON bookings;
DROP TABLE holds;
DROP FUNCTION bookings_hold_guard();
DROP FUNCTION holds_guard();
DROP FUNCTION inspine_lock_claims(TEXT, TEXT);
