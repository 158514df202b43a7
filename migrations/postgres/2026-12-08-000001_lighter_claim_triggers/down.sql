-- The definitions of 2026-12-04-000001_availability_versions.
CREATE OR REPLACE FUNCTION inspine_bump_availability(target TEXT) RETURNS VOID LANGUAGE sql AS $$
    SELECT set_config('inspine.availability_pending',
        COALESCE(current_setting('inspine.availability_pending', true), '') || target || chr(10),
        true);
$$;

CREATE OR REPLACE FUNCTION inspine_flush_availability() RETURNS TRIGGER LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION inspine_availability_claim() RETURNS TRIGGER LANGUAGE plpgsql AS $$
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
