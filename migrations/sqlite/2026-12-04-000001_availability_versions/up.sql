-- What the slot search keeps in memory is checked against these counters (src/availability/
-- snapshot.rs): every write of something the search reads bumps, in its own transaction, the
-- counter of what it changed, so a search that finds a counter unchanged may use what it loaded
-- under it, and one that finds it moved loads that part again.
--   catalog          locations, rooms, massage types and options, therapists and what they
--                    offer, location closures;
--   t:THERAPIST      weekly rules, date overrides and their rules, time off;
--   b:THERAPIST:M    confirmed bookings and holds of the therapist starting in UTC month M
--                    (YYYY-MM);
--   r:ROOM:M         the same for a room.
-- A scope nobody wrote yet has no row: version 0. Rows are never deleted.
CREATE TABLE availability_versions (
    scope TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);

-- SQLite writes one transaction at a time, so these run at once, row by row.
CREATE TRIGGER bookings_availability_insert AFTER INSERT ON bookings BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || NEW.therapist_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || NEW.room_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE NEW.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER bookings_availability_update AFTER UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status ON bookings BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || OLD.therapist_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || OLD.room_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE OLD.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || NEW.therapist_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || NEW.room_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE NEW.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER bookings_availability_delete AFTER DELETE ON bookings BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || OLD.therapist_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || OLD.room_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE OLD.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER holds_availability_insert AFTER INSERT ON holds BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || NEW.therapist_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || NEW.room_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE NEW.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER holds_availability_update AFTER UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status, expires_at ON holds BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || OLD.therapist_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || OLD.room_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE OLD.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || NEW.therapist_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || NEW.room_id || ':' || substr(NEW.start_at, 1, 7), 1 WHERE NEW.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER holds_availability_delete AFTER DELETE ON holds BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'b:' || OLD.therapist_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 'r:' || OLD.room_id || ':' || substr(OLD.start_at, 1, 7), 1 WHERE OLD.room_id IS NOT NULL
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_rules_availability_insert AFTER INSERT ON schedule_rules BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || NEW.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_rules_availability_update AFTER UPDATE ON schedule_rules BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || OLD.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 't:' || NEW.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_rules_availability_delete AFTER DELETE ON schedule_rules BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || OLD.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER time_off_availability_insert AFTER INSERT ON time_off BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || NEW.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER time_off_availability_update AFTER UPDATE ON time_off BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || OLD.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 't:' || NEW.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER time_off_availability_delete AFTER DELETE ON time_off BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || OLD.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_overrides_availability_insert AFTER INSERT ON schedule_overrides BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || NEW.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_overrides_availability_update AFTER UPDATE ON schedule_overrides BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || OLD.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT 't:' || NEW.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_overrides_availability_delete AFTER DELETE ON schedule_overrides BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 't:' || OLD.therapist_id, 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_override_rules_availability_insert AFTER INSERT ON schedule_override_rules BEGIN
    INSERT INTO availability_versions (scope, version) SELECT COALESCE((SELECT 't:' || therapist_id FROM schedule_overrides WHERE id = NEW.override_id), 'catalog'), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_override_rules_availability_update AFTER UPDATE ON schedule_override_rules BEGIN
    INSERT INTO availability_versions (scope, version) SELECT COALESCE((SELECT 't:' || therapist_id FROM schedule_overrides WHERE id = OLD.override_id), 'catalog'), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
    INSERT INTO availability_versions (scope, version) SELECT COALESCE((SELECT 't:' || therapist_id FROM schedule_overrides WHERE id = NEW.override_id), 'catalog'), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER schedule_override_rules_availability_delete AFTER DELETE ON schedule_override_rules BEGIN
    INSERT INTO availability_versions (scope, version) SELECT COALESCE((SELECT 't:' || therapist_id FROM schedule_overrides WHERE id = OLD.override_id), 'catalog'), 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER locations_availability_insert AFTER INSERT ON locations BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER locations_availability_update AFTER UPDATE ON locations BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER locations_availability_delete AFTER DELETE ON locations BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER rooms_availability_insert AFTER INSERT ON rooms BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER rooms_availability_update AFTER UPDATE ON rooms BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER rooms_availability_delete AFTER DELETE ON rooms BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER massage_types_availability_insert AFTER INSERT ON massage_types BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER massage_types_availability_update AFTER UPDATE ON massage_types BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER massage_types_availability_delete AFTER DELETE ON massage_types BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER massage_type_options_availability_insert AFTER INSERT ON massage_type_options BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER massage_type_options_availability_update AFTER UPDATE ON massage_type_options BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER massage_type_options_availability_delete AFTER DELETE ON massage_type_options BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER therapists_availability_insert AFTER INSERT ON therapists BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER therapists_availability_update AFTER UPDATE ON therapists BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER therapists_availability_delete AFTER DELETE ON therapists BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER therapist_massage_types_availability_insert AFTER INSERT ON therapist_massage_types BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER therapist_massage_types_availability_update AFTER UPDATE ON therapist_massage_types BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER therapist_massage_types_availability_delete AFTER DELETE ON therapist_massage_types BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER location_closures_availability_insert AFTER INSERT ON location_closures BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER location_closures_availability_update AFTER UPDATE ON location_closures BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER location_closures_availability_delete AFTER DELETE ON location_closures BEGIN
    INSERT INTO availability_versions (scope, version) SELECT 'catalog', 1 WHERE true
        ON CONFLICT (scope) DO UPDATE SET version = version + 1;
END;
