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

-- On PostgreSQL the counters are bumped at commit, so a counter's row lock is held only while
-- the transaction commits. Each write notes the scopes it changes in a transaction-local setting
-- (rolled back with a savepoint), and the first deferred trigger to fire at commit bumps them all
-- in sorted order: every transaction takes its counter locks last and in one global order, so two
-- writers touching the same scopes in opposite orders (a reschedule from room A to B beside one
-- from B to A) wait for each other instead of deadlocking.
CREATE FUNCTION inspine_bump_availability(target TEXT) RETURNS VOID LANGUAGE sql AS $$
    SELECT set_config('inspine.availability_pending',
        COALESCE(current_setting('inspine.availability_pending', true), '') || target || chr(10),
        true);
$$;

CREATE FUNCTION inspine_flush_availability() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    pending TEXT := current_setting('inspine.availability_pending', true);
    target TEXT;
BEGIN
    IF pending IS NULL OR pending = '' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('inspine.availability_pending', '', true);
    FOR target IN
        SELECT DISTINCT item FROM unnest(string_to_array(pending, chr(10))) AS item
        WHERE item <> '' ORDER BY item
    LOOP
        INSERT INTO availability_versions (scope, version) VALUES (target, 1)
        ON CONFLICT (scope) DO UPDATE SET version = availability_versions.version + 1;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE FUNCTION inspine_availability_claim() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM inspine_bump_availability('b:' || OLD.therapist_id || ':' || to_char(OLD.start_at, 'YYYY-MM'));
        IF OLD.room_id IS NOT NULL THEN
            PERFORM inspine_bump_availability('r:' || OLD.room_id || ':' || to_char(OLD.start_at, 'YYYY-MM'));
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM inspine_bump_availability('b:' || NEW.therapist_id || ':' || to_char(NEW.start_at, 'YYYY-MM'));
        IF NEW.room_id IS NOT NULL THEN
            PERFORM inspine_bump_availability('r:' || NEW.room_id || ':' || to_char(NEW.start_at, 'YYYY-MM'));
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION inspine_availability_therapist() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM inspine_bump_availability('t:' || OLD.therapist_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM inspine_bump_availability('t:' || NEW.therapist_id);
    END IF;
    RETURN NULL;
END;
$$;

-- The override may be gone (its rules deleted with it): its own trigger notes its therapist,
-- and this one the catalog.
CREATE FUNCTION inspine_availability_override_rule() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    owner TEXT;
BEGIN
    SELECT therapist_id INTO owner FROM schedule_overrides
    WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.override_id ELSE NEW.override_id END;
    PERFORM inspine_bump_availability(COALESCE('t:' || owner, 'catalog'));
    RETURN NULL;
END;
$$;

CREATE FUNCTION inspine_availability_catalog() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM inspine_bump_availability('catalog');
    RETURN NULL;
END;
$$;

CREATE TRIGGER bookings_availability AFTER INSERT OR UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status OR DELETE ON bookings
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_claim();
CREATE CONSTRAINT TRIGGER bookings_availability_flush AFTER INSERT OR UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status OR DELETE ON bookings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER holds_availability AFTER INSERT OR UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status, expires_at OR DELETE ON holds
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_claim();
CREATE CONSTRAINT TRIGGER holds_availability_flush AFTER INSERT OR UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status, expires_at OR DELETE ON holds
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER schedule_rules_availability AFTER INSERT OR UPDATE OR DELETE ON schedule_rules
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_therapist();
CREATE CONSTRAINT TRIGGER schedule_rules_availability_flush AFTER INSERT OR UPDATE OR DELETE ON schedule_rules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER time_off_availability AFTER INSERT OR UPDATE OR DELETE ON time_off
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_therapist();
CREATE CONSTRAINT TRIGGER time_off_availability_flush AFTER INSERT OR UPDATE OR DELETE ON time_off
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER schedule_overrides_availability AFTER INSERT OR UPDATE OR DELETE ON schedule_overrides
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_therapist();
CREATE CONSTRAINT TRIGGER schedule_overrides_availability_flush AFTER INSERT OR UPDATE OR DELETE ON schedule_overrides
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER schedule_override_rules_availability AFTER INSERT OR UPDATE OR DELETE ON schedule_override_rules
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_override_rule();
CREATE CONSTRAINT TRIGGER schedule_override_rules_availability_flush AFTER INSERT OR UPDATE OR DELETE ON schedule_override_rules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER locations_availability AFTER INSERT OR UPDATE OR DELETE ON locations
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER locations_availability_flush AFTER INSERT OR UPDATE OR DELETE ON locations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER rooms_availability AFTER INSERT OR UPDATE OR DELETE ON rooms
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER rooms_availability_flush AFTER INSERT OR UPDATE OR DELETE ON rooms
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER massage_types_availability AFTER INSERT OR UPDATE OR DELETE ON massage_types
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER massage_types_availability_flush AFTER INSERT OR UPDATE OR DELETE ON massage_types
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER massage_type_options_availability AFTER INSERT OR UPDATE OR DELETE ON massage_type_options
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER massage_type_options_availability_flush AFTER INSERT OR UPDATE OR DELETE ON massage_type_options
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER therapists_availability AFTER INSERT OR UPDATE OR DELETE ON therapists
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER therapists_availability_flush AFTER INSERT OR UPDATE OR DELETE ON therapists
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER therapist_massage_types_availability AFTER INSERT OR UPDATE OR DELETE ON therapist_massage_types
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER therapist_massage_types_availability_flush AFTER INSERT OR UPDATE OR DELETE ON therapist_massage_types
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
CREATE TRIGGER location_closures_availability AFTER INSERT OR UPDATE OR DELETE ON location_closures
    FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER location_closures_availability_flush AFTER INSERT OR UPDATE OR DELETE ON location_closures
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_flush_availability();
