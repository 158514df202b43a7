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

-- On PostgreSQL the counters are bumped by deferred constraint triggers, at commit: a row's lock
-- is then held only while the transaction commits, and writers of different scopes never wait
-- for each other. Writers of one therapist already take turns on its claim lock.
CREATE FUNCTION inspine_bump_availability(target TEXT) RETURNS VOID LANGUAGE sql AS $$
    INSERT INTO availability_versions (scope, version) VALUES (target, 1)
    ON CONFLICT (scope) DO UPDATE SET version = availability_versions.version + 1;
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

-- At commit the override may be gone (deleted with its rules): its own trigger bumped its
-- therapist then, and this one bumps the catalog.
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

CREATE CONSTRAINT TRIGGER bookings_availability AFTER INSERT OR UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status OR DELETE ON bookings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_claim();
CREATE CONSTRAINT TRIGGER holds_availability AFTER INSERT OR UPDATE OF therapist_id, room_id, start_at, end_at, blocked_until, status, expires_at OR DELETE ON holds
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_claim();
CREATE CONSTRAINT TRIGGER schedule_rules_availability AFTER INSERT OR UPDATE OR DELETE ON schedule_rules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_therapist();
CREATE CONSTRAINT TRIGGER time_off_availability AFTER INSERT OR UPDATE OR DELETE ON time_off
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_therapist();
CREATE CONSTRAINT TRIGGER schedule_overrides_availability AFTER INSERT OR UPDATE OR DELETE ON schedule_overrides
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_therapist();
CREATE CONSTRAINT TRIGGER schedule_override_rules_availability AFTER INSERT OR UPDATE OR DELETE ON schedule_override_rules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_override_rule();
CREATE CONSTRAINT TRIGGER locations_availability AFTER INSERT OR UPDATE OR DELETE ON locations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER rooms_availability AFTER INSERT OR UPDATE OR DELETE ON rooms
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER massage_types_availability AFTER INSERT OR UPDATE OR DELETE ON massage_types
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER massage_type_options_availability AFTER INSERT OR UPDATE OR DELETE ON massage_type_options
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER therapists_availability AFTER INSERT OR UPDATE OR DELETE ON therapists
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER therapist_massage_types_availability AFTER INSERT OR UPDATE OR DELETE ON therapist_massage_types
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
CREATE CONSTRAINT TRIGGER location_closures_availability AFTER INSERT OR UPDATE OR DELETE ON location_closures
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inspine_availability_catalog();
