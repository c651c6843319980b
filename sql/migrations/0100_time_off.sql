-- Time off that agents record (add_time_off), and bookings that cannot slip into it.
--
-- Why the hold trigger checks time off: a booking reads whether its resource has time off,
-- then inserts its hold; add_time_off reads whether bookings clash, then inserts the time off.
-- Interleaved, both could pass: a booking read before the time off committed, its hold
-- inserted after. Both now take the resource's hold lock (0025) before they write, and the
-- hold, once it has the lock, looks for time off committed meanwhile. It answers as an
-- overlapping hold does (23P01 on appointment_resources_no_double_booking), so a booking moves
-- on to the next resource or says the slot is taken, as it does for a booking that won a race.
-- Only agents' holds are checked: an import records appointments that happened elsewhere,
-- whatever time off says; the tools already keep agents out of time off, this closes the race.

CREATE OR REPLACE FUNCTION bizctx_appointment_resources_derive() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    SELECT starts_at, ends_at, status INTO a
      FROM appointments
     WHERE tenant_id = NEW.tenant_id AND id = NEW.appointment_id;
    IF FOUND THEN
        NEW.during := tstzrange(a.starts_at, a.ends_at);
        NEW.active := a.status NOT IN ('cancelled', 'no_show');
    END IF;  -- else the foreign key reports the missing appointment
    IF NEW.active AND (TG_OP = 'INSERT'
                       OR NOT OLD.active
                       OR OLD.during IS DISTINCT FROM NEW.during
                       OR OLD.resource_id IS DISTINCT FROM NEW.resource_id) THEN
        -- 1651079779 is 'bizc': the class of resource-hold locks (the migration runner's
        -- lock is a single bigint, a separate key space).
        PERFORM pg_advisory_xact_lock(1651079779, hashtext(NEW.resource_id::text));
        IF bizctx_agent() IS NOT NULL AND EXISTS (
               SELECT 1 FROM resource_unavailability u
                WHERE u.tenant_id = NEW.tenant_id AND u.resource_id = NEW.resource_id
                  AND u.during && NEW.during) THEN
            RAISE EXCEPTION 'resource % has time off during %', NEW.resource_id, NEW.during
                USING ERRCODE = '23P01', CONSTRAINT = 'appointment_resources_no_double_booking',
                      TABLE = 'appointment_resources';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE INDEX resource_unavailability_upcoming_idx ON resource_unavailability (tenant_id, resource_id, upper(during));

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('add_time_off', 'appointments.write');
