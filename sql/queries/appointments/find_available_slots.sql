-- Free (start, resource) pairs for a service in [from_at, to_at), first `limit` starts: hours - time off - bookings.
-- Index: resources_capabilities_idx; resource_unavailability_during_idx; appointment_resources_no_double_booking.
WITH svc AS (
    SELECT make_interval(mins => coalesce(%(duration_minutes)s::int, s.duration_minutes)) AS dur,
           s.required_capabilities,
           greatest(%(from_at)s::timestamptz, now()) AS lo,
           %(to_at)s::timestamptz AS hi
    FROM services s
    WHERE s.tenant_id = bizctx_tenant() AND s.id = %(service_id)s::uuid
),
-- Weekly hours as instants: bizctx_resource_hours reads wall-clock times in the resource's zone (DST-right).
res AS (
    SELECT r.id, r.name, r.kind, svc.dur, svc.lo, svc.hi,
           bizctx_resource_hours(r.id, svc.lo, svc.hi + svc.dur) AS hours
    FROM svc
    JOIN resources r ON r.tenant_id = bizctx_tenant() AND r.capabilities @> svc.required_capabilities
    WHERE r.active AND svc.lo < svc.hi
      AND (%(resource_id)s::uuid IS NULL OR r.id = %(resource_id)s::uuid)
),
-- Working hours minus time off and active bookings (except exclude_appointment_id's own).
free AS (
    SELECT res.*,
           res.hours - coalesce((
               SELECT range_agg(x.during)
               FROM (SELECT u.during
                     FROM resource_unavailability u
                     WHERE u.tenant_id = bizctx_tenant() AND u.resource_id = res.id
                       AND u.during && tstzrange(res.lo, res.hi + res.dur)
                     UNION ALL
                     SELECT ar.during
                     FROM appointment_resources ar
                     WHERE ar.tenant_id = bizctx_tenant() AND ar.resource_id = res.id AND ar.active
                       AND ar.during && tstzrange(res.lo, res.hi + res.dur)
                       AND ar.appointment_id IS DISTINCT FROM %(exclude_appointment_id)s::uuid) x
           ), '{}'::tstzmultirange) AS open
    FROM res
),
-- Candidate starts every step_minutes from the start of each block of working hours.
slots AS (
    SELECT s.starts_at, s.starts_at + f.dur AS ends_at,
           f.id AS resource_id, f.name AS resource_name, f.kind AS resource_kind
    FROM free f
    CROSS JOIN LATERAL unnest(f.hours) AS h(block)
    CROSS JOIN LATERAL generate_series(lower(h.block), upper(h.block) - f.dur,
                                       make_interval(mins => %(step_minutes)s::int)) AS s(starts_at)
    WHERE s.starts_at >= f.lo AND s.starts_at < f.hi
      AND f.open @> tstzrange(s.starts_at, s.starts_at + f.dur)
),
ranked AS (
    SELECT slots.*, dense_rank() OVER (ORDER BY slots.starts_at) AS n
    FROM slots
)
SELECT starts_at, ends_at, resource_id, resource_name, resource_kind
FROM ranked
WHERE n <= %(limit)s
ORDER BY starts_at, resource_name, resource_id
