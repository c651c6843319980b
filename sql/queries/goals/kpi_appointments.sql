-- The appointment KPIs of the period [from, to) and the one before, in the business time
-- zone: appointments booked (made in the period), completed and the no-show rate (of those
-- that started in it: no-shows / (completed + no-shows), in percent), and staff utilisation (hours the
-- active staff were booked / their weekly working hours over the period's days, in percent).
-- Index: appointments_starts_idx; appointment_resources_no_double_booking (gist on during).
WITH t AS (SELECT time_zone FROM tenants WHERE id = bizctx_tenant()),
p AS (
    SELECT p.which, p.d_from, p.d_to, p.d_from::timestamp AT TIME ZONE t.time_zone AS ts_from,
           p.d_to::timestamp AT TIME ZONE t.time_zone AS ts_to
    FROM t, (VALUES ('current', %(from)s::date, %(to)s::date),
                    ('previous', %(prev_from)s::date, %(prev_to)s::date)) AS p(which, d_from, d_to)
),
visits AS (
    SELECT p.which,
           (SELECT count(*) FROM appointments a
            WHERE a.tenant_id = bizctx_tenant() AND a.created_at >= p.ts_from AND a.created_at < p.ts_to) AS booked,
           count(*) FILTER (WHERE a.status = 'completed') AS completed,
           count(*) FILTER (WHERE a.status = 'no_show') AS no_shows
    FROM p LEFT JOIN appointments a ON a.tenant_id = bizctx_tenant() AND a.starts_at >= p.ts_from AND a.starts_at < p.ts_to
    GROUP BY p.which, p.ts_from, p.ts_to
),
staff AS (
    SELECT r.id, coalesce(r.time_zone, t.time_zone) AS zone
    FROM resources r, t
    WHERE r.tenant_id = bizctx_tenant() AND r.kind = 'staff' AND r.active
),
working AS (
    SELECT p.which, sum(extract(epoch FROM w.end_time - w.start_time) / 3600) AS hours
    FROM p
    CROSS JOIN LATERAL generate_series(p.d_from, p.d_to - 1, interval '1 day') AS d(day)
    JOIN staff s ON true
    JOIN resource_availability w ON w.tenant_id = bizctx_tenant() AND w.resource_id = s.id
                                AND w.weekday = extract(isodow FROM d.day)
    GROUP BY p.which
),
held AS (
    SELECT p.which,
           sum(extract(epoch FROM upper(ar.during * tstzrange(p.ts_from, p.ts_to))
                                - lower(ar.during * tstzrange(p.ts_from, p.ts_to))) / 3600) AS hours
    FROM p
    JOIN appointment_resources ar ON ar.tenant_id = bizctx_tenant() AND ar.active
                                 AND ar.during && tstzrange(p.ts_from, p.ts_to)
    JOIN staff s ON s.id = ar.resource_id
    GROUP BY p.which
),
-- Counts are whole; rates to one decimal.
figures (kpi, places, which, value) AS (
    SELECT 'appointments_booked', 0, v.which, v.booked::numeric FROM visits v
    UNION ALL
    SELECT 'appointments_completed', 0, v.which, v.completed::numeric FROM visits v
    UNION ALL
    SELECT 'no_show_rate', 1, v.which, 100.0 * v.no_shows / nullif(v.completed + v.no_shows, 0) FROM visits v
    UNION ALL
    SELECT 'staff_utilisation', 1, w.which, 100 * coalesce(h.hours, 0) / nullif(w.hours, 0)
    FROM working w LEFT JOIN held h ON h.which = w.which
)
SELECT f.kpi, NULL::text AS currency,
       round(max(f.value) FILTER (WHERE f.which = 'current'), f.places) AS value,
       round(max(f.value) FILTER (WHERE f.which = 'previous'), f.places) AS previous
FROM figures f
GROUP BY f.kpi, f.places
ORDER BY f.kpi
