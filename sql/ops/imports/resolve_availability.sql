-- Each staged availability row: its resource, and the weekly-hours or time-off row it updates
-- (by external_ref; else an identical row of that resource) and the id it will have.
-- Index: resources / resource_availability / resource_unavailability (tenant_id, external_ref).
WITH typed AS (
    SELECT s.line, s.external_ref, s.weekday IS NOT NULL AS weekly,
           coalesce((SELECT r.id FROM resources r
                     WHERE r.tenant_id = %(tenant_id)s AND r.external_ref = btrim(s.resource_ref)),
                    (SELECT r.id FROM resources r
                     WHERE r.tenant_id = %(tenant_id)s AND r.id = bizctx_import.ref_id(s.resource_ref)))
               AS resource_id,
           bizctx_import.weekday(s.weekday) AS weekday,
           CASE WHEN bizctx_import.is_time(btrim(s.start_time)) THEN btrim(s.start_time)::time END AS start_time,
           CASE WHEN bizctx_import.is_time(btrim(s.end_time)) THEN btrim(s.end_time)::time END AS end_time,
           CASE WHEN bizctx_import.is_timestamp(btrim(s.starts_at)) THEN btrim(s.starts_at)::timestamptz END
               AS starts_at,
           CASE WHEN bizctx_import.is_timestamp(btrim(s.ends_at)) THEN btrim(s.ends_at)::timestamptz END AS ends_at
    FROM bizctx_import.availability s
),
matched AS (
    SELECT t.line, t.resource_id,
           CASE WHEN t.weekly THEN coalesce(
                    (SELECT a.id FROM resource_availability a
                     WHERE a.tenant_id = %(tenant_id)s AND a.external_ref = btrim(t.external_ref)),
                    (SELECT a.id FROM resource_availability a
                     WHERE a.tenant_id = %(tenant_id)s AND t.external_ref IS NULL AND a.external_ref IS NULL
                       AND a.resource_id = t.resource_id AND a.weekday = t.weekday
                       AND a.start_time = t.start_time AND a.end_time = t.end_time
                     ORDER BY a.id LIMIT 1))
                ELSE coalesce(
                    (SELECT u.id FROM resource_unavailability u
                     WHERE u.tenant_id = %(tenant_id)s AND u.external_ref = btrim(t.external_ref)),
                    (SELECT u.id FROM resource_unavailability u
                     WHERE u.tenant_id = %(tenant_id)s AND t.external_ref IS NULL AND u.external_ref IS NULL
                       AND u.resource_id = t.resource_id AND lower(u.during) = t.starts_at
                       AND upper(u.during) IS NOT DISTINCT FROM t.ends_at
                     ORDER BY u.id LIMIT 1))
           END AS target_id
    FROM typed t
)
UPDATE bizctx_import.availability s
SET resource_id = m.resource_id, target_id = m.target_id, id = coalesce(m.target_id, gen_random_uuid())
FROM matched m
WHERE m.line = s.line
