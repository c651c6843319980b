-- Appointments, second part: working hours as real instants (the one definition the slot
-- search and the booking check share, correct across daylight-saving changes), and the
-- idempotency keys of changes to an existing appointment (reschedule, cancel, status).

-- The instant a wall-clock time in `tz` names. An ambiguous time (the repeated hour when
-- clocks go back) is its FIRST occurrence, as iCalendar reads it; PostgreSQL alone would
-- take the second. A time that does not exist (the hour skipped when clocks go forward)
-- is read with the offset before the gap, as PostgreSQL and Python's zoneinfo both do.
CREATE FUNCTION bizctx_local_instant(local_time timestamp, tz text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        -- With the offset in force a day earlier: valid when it reads back as the same wall time.
        WHEN ((local_time - interval '24 hours') AT TIME ZONE tz + interval '24 hours') AT TIME ZONE tz
             = local_time
        THEN least(local_time AT TIME ZONE tz,
                   (local_time - interval '24 hours') AT TIME ZONE tz + interval '24 hours')
        ELSE local_time AT TIME ZONE tz
    END
$$;

-- A resource's weekly hours on every local date from the local date of `from_at` to that
-- of `to_at`, as one multirange of instants (split shifts and adjacent rows merged).
-- Hours are wall times in the resource's time zone, else the tenant's; weekday is ISO
-- (1 = Monday); end_time 24:00 is the next midnight. Runs as the caller: RLS applies.
CREATE FUNCTION bizctx_resource_hours(p_resource_id uuid, from_at timestamptz, to_at timestamptz)
    RETURNS tstzmultirange LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
               range_agg(tstzrange(bizctx_local_instant(d.day + a.start_time, z.tz),
                                   bizctx_local_instant(d.day + a.end_time, z.tz))),
               '{}'::tstzmultirange)
    FROM (SELECT r.tenant_id, r.id, coalesce(r.time_zone, t.time_zone) AS tz
          FROM resources r
          JOIN tenants t ON t.id = r.tenant_id
          WHERE r.tenant_id = bizctx_tenant() AND r.id = p_resource_id) z
    CROSS JOIN LATERAL (
        -- Integer steps over dates: no session time zone can shift a day.
        SELECT (from_at AT TIME ZONE z.tz)::date + n AS day
        FROM generate_series(0, (to_at AT TIME ZONE z.tz)::date - (from_at AT TIME ZONE z.tz)::date) AS n
    ) d
    JOIN resource_availability a
      ON a.tenant_id = z.tenant_id AND a.resource_id = z.id AND a.weekday = extract(isodow FROM d.day)
$$;

-- One row per reschedule / cancel / status change made with an idempotency key, written
-- in the change's own transaction: a retry with the same key finds it and changes nothing.
CREATE TABLE appointment_changes (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    appointment_id  uuid NOT NULL,
    action          text NOT NULL CHECK (action IN ('reschedule', 'cancel', 'set_status')),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    agent_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Upsert target: ON CONFLICT (tenant_id, idempotency_key).
    UNIQUE (tenant_id, idempotency_key),
    FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX appointment_changes_appointment_idx ON appointment_changes (tenant_id, appointment_id);
SELECT bizctx_secure_tenant_table('appointment_changes', 'SELECT, INSERT');
