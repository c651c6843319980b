-- Holds of one resource are written one transaction at a time.
--
-- Why: the exclusion constraint appointment_resources_no_double_booking alone lets two
-- bookings of one resource deadlock. Each inserts its row into the index first and then
-- looks for overlaps; finding the other's uncommitted row, each waits for the other.
-- It happens whenever bookings queue behind one that then gives up or commits: they all
-- wake at once. PostgreSQL breaks the cycle after deadlock_timeout (a second), aborting
-- one; the guard runs that call again, but a busy slot can lose every retry.
--
-- The fix: before a hold can start to overlap anything (inserted active, re-activated,
-- moved, or given another resource), its transaction takes an advisory lock on the
-- resource, kept until commit, or released by a rollback to the savepoint that took it
-- (as a booking trying the next resource does). A second writer of that resource waits
-- for the lock before its row exists, then sees the first's committed hold and gets a
-- plain 23P01. Writes of different resources never wait for each other; a transaction
-- holding several resources (an import) can still deadlock with another doing the same
-- in the opposite order, which the detector breaks and the guard retries, as before.
-- Releasing a hold (cancel, no-show) takes no lock: it cannot create an overlap.

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
    END IF;
    RETURN NEW;
END
$$;
