-- Rules written once, in SQL, for every query that needs them.
--
-- Why: "today in the tenant's zone" was written in seven queries, "overdue" in six, the
-- 24-column task row in ten, the appointment as agents see it in two, and the appointment
-- status transitions in three places (the trigger, the import check, and a Python copy for
-- error messages) that could drift apart.

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

-- An appointment as agents see it: its client (name and contacts, which the guard redacts),
-- service, held resources, the client address it is at, and the business time zone its times
-- are shown in. security_invoker: the caller's row policies apply.
CREATE VIEW appointment_rows WITH (security_invoker = true) AS
SELECT a.tenant_id, a.id, a.status, a.starts_at, a.ends_at, a.location, a.notes, a.price, a.currency,
       a.cancelled_at, a.cancellation_reason, a.created_at, a.updated_at,
       c.id AS client_id, c.display_name AS client_name, c.email AS client_email,
       coalesce(c.phone, c.mobile_phone) AS client_phone,
       s.id AS service_id, s.code AS service_code, s.name AS service_name,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name, 'kind', r.kind)
                                  ORDER BY r.name, r.id)
                 FROM appointment_resources ar
                 JOIN resources r ON r.tenant_id = ar.tenant_id AND r.id = ar.resource_id
                 WHERE ar.tenant_id = a.tenant_id AND ar.appointment_id = a.id), '[]') AS resources,
       (SELECT jsonb_build_object('id', ad.id, 'label', ad.label, 'line1', ad.line1, 'line2', ad.line2,
                                  'city', ad.city, 'region', ad.region, 'postal_code', ad.postal_code,
                                  'country', ad.country, 'access_notes', ad.access_notes)
        FROM client_addresses ad
        WHERE ad.tenant_id = a.tenant_id AND ad.id = a.address_id) AS address,
       t.time_zone
FROM appointments a
JOIN clients c ON c.tenant_id = a.tenant_id AND c.id = a.client_id
JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
JOIN tenants t ON t.id = a.tenant_id;
GRANT SELECT ON appointment_rows TO bizctx_app;

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
