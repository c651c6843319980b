-- Rules written once, in SQL, for every query that needs them.
--
-- Why: "today in the tenant's zone" was written in seven queries, "overdue" in six, the
-- 24-column task row in ten, and the appointment status transitions in three places (the
-- trigger, the import check, and a Python copy for error messages) that could drift apart.

-- Today's date in the tenant's business time zone (the caller's tenant by default). Runs as
-- the caller, so an agent gets only its own tenant's. Use it once per query, e.g.
-- CROSS JOIN (SELECT bizctx_today() AS today) d.
CREATE FUNCTION bizctx_today(p_tenant_id uuid DEFAULT bizctx_tenant()) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (now() AT TIME ZONE time_zone)::date FROM tenants WHERE id = p_tenant_id
$$;

-- Overdue is derived, never stored: open or partly paid, and due before `today` (the
-- business's). Inlined by the planner, so the receivables index still applies.
CREATE FUNCTION bizctx_is_overdue(status text, due_date date, today date) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('open', 'partial') AND due_date < today
$$;

-- Days past due of an overdue invoice; NULL when it is not overdue.
CREATE FUNCTION bizctx_days_overdue(status text, due_date date, today date) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN bizctx_is_overdue(status, due_date, today) THEN today - due_date END
$$;

-- A task as agents see it: the one row shape every task query selects, inserts and
-- returns (`SELECT * FROM task_rows`, `UPDATE task_rows ... RETURNING *`). A plain view of
-- one table, so PostgreSQL updates it in place; security_invoker, so the caller's row
-- policies (tenant and scope) apply as on the table.
CREATE VIEW task_rows WITH (security_invoker = true) AS
SELECT tenant_id, id, type, title, payload, priority, status, requires_approval, assignee_agent_id,
       created_by_agent_id, claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after,
       due_at, last_error, errors, result, client_id, appointment_id, invoice_id, completed_at,
       created_at, updated_at
FROM tasks;
GRANT SELECT, INSERT, UPDATE ON task_rows TO bizctx_app;

-- The appointment status transitions, as data: the trigger, the import check and the
-- messages that say what an appointment can become all read this table. A status with no
-- way out is final (its times cannot move either).
CREATE TABLE appointment_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    -- The order messages list the next statuses in: the life of an appointment.
    position    smallint NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO appointment_transitions (from_status, to_status, position) VALUES
    ('scheduled', 'confirmed', 1), ('scheduled', 'in_progress', 2), ('scheduled', 'cancelled', 3),
    ('scheduled', 'no_show', 4),
    ('confirmed', 'in_progress', 1), ('confirmed', 'cancelled', 2), ('confirmed', 'no_show', 3),
    ('in_progress', 'completed', 1);
GRANT SELECT ON appointment_transitions TO bizctx_app;

CREATE FUNCTION bizctx_appointment_final(status text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM appointment_transitions WHERE from_status = status)
$$;

CREATE OR REPLACE FUNCTION bizctx_appointments_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status IS DISTINCT FROM OLD.status
           AND NOT EXISTS (SELECT 1 FROM appointment_transitions
                           WHERE from_status = OLD.status AND to_status = NEW.status) THEN
            RAISE EXCEPTION 'invalid appointment status transition: % -> %', OLD.status, NEW.status
                USING ERRCODE = 'BZ001';
        END IF;
        IF bizctx_appointment_final(OLD.status)
           AND (NEW.starts_at IS DISTINCT FROM OLD.starts_at OR NEW.ends_at IS DISTINCT FROM OLD.ends_at) THEN
            RAISE EXCEPTION 'cannot reschedule a % appointment', OLD.status
                USING ERRCODE = 'BZ002';
        END IF;
    END IF;
    IF NEW.status = 'cancelled' THEN
        NEW.cancelled_at := coalesce(NEW.cancelled_at, now());
    ELSE
        NEW.cancelled_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
