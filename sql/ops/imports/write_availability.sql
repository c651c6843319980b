-- Inserts or updates the staged weekly hours and time off (unchanged rows are not touched).
-- Returns how many were inserted and updated. Index: primary keys (tenant_id, id).
WITH weekly AS (
    INSERT INTO resource_availability AS a (tenant_id, id, resource_id, weekday, start_time, end_time, external_ref)
    SELECT %(tenant_id)s, s.id, s.resource_id, bizctx_import.weekday(s.weekday), btrim(s.start_time)::time,
           btrim(s.end_time)::time, btrim(s.external_ref)
    FROM bizctx_import.availability s
    WHERE s.weekday IS NOT NULL
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET resource_id = excluded.resource_id, weekday = excluded.weekday, start_time = excluded.start_time,
        end_time = excluded.end_time, external_ref = coalesce(excluded.external_ref, a.external_ref)
    WHERE (a.resource_id, a.weekday, a.start_time, a.end_time, a.external_ref)
          IS DISTINCT FROM
          (excluded.resource_id, excluded.weekday, excluded.start_time, excluded.end_time,
           coalesce(excluded.external_ref, a.external_ref))
    RETURNING xmax = 0 AS inserted
),
time_off AS (
    INSERT INTO resource_unavailability AS u (tenant_id, id, resource_id, during, reason, external_ref)
    SELECT %(tenant_id)s, s.id, s.resource_id,
           tstzrange(btrim(s.starts_at)::timestamptz, btrim(s.ends_at)::timestamptz), s.reason, btrim(s.external_ref)
    FROM bizctx_import.availability s
    WHERE s.weekday IS NULL
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET resource_id = excluded.resource_id, during = excluded.during, reason = excluded.reason,
        external_ref = coalesce(excluded.external_ref, u.external_ref)
    WHERE (u.resource_id, u.during, u.reason, u.external_ref)
          IS DISTINCT FROM
          (excluded.resource_id, excluded.during, excluded.reason, coalesce(excluded.external_ref, u.external_ref))
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM (SELECT inserted FROM weekly UNION ALL SELECT inserted FROM time_off) w
