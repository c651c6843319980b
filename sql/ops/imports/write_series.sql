-- Inserts new series and updates changed ones from the staged rows (unchanged ones are not
-- touched); a series cancelled here is stamped now, one cancelled before keeps its time. The
-- occurrences are appointments and come with them (series_ref). Returns how many were
-- inserted and updated. Index: appointment_series primary key (tenant_id, id).
WITH written AS (
    INSERT INTO appointment_series AS x (tenant_id, id, external_ref, client_id, service_id, resource_id, frequency,
                                         monthly_by, first_starts_at, time_zone, until_date, occurrences, status,
                                         cancel_reason, cancelled_at)
    SELECT %(tenant_id)s, s.id,
           CASE WHEN bizctx_import.ref_id(s.external_ref) = s.target_id THEN NULL ELSE btrim(s.external_ref) END,
           s.client_id, s.service_id, s.resource_id, lower(btrim(s.frequency)),
           CASE WHEN lower(btrim(s.frequency)) = 'monthly' THEN coalesce(lower(btrim(s.monthly_by)), 'date') END,
           btrim(s.first_starts_at)::timestamptz, coalesce(btrim(s.time_zone), t.time_zone),
           btrim(s.until_date)::date, btrim(s.occurrences)::integer, coalesce(lower(btrim(s.status)), 'active'),
           s.cancel_reason,
           CASE WHEN coalesce(lower(btrim(s.status)), 'active') = 'cancelled' THEN coalesce(cur.cancelled_at, now()) END
    FROM bizctx_import.series s
    JOIN tenants t ON t.id = %(tenant_id)s
    LEFT JOIN appointment_series cur ON cur.tenant_id = %(tenant_id)s AND cur.id = s.target_id
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET external_ref = coalesce(excluded.external_ref, x.external_ref), client_id = excluded.client_id,
        service_id = excluded.service_id, resource_id = excluded.resource_id, frequency = excluded.frequency,
        monthly_by = excluded.monthly_by, first_starts_at = excluded.first_starts_at, time_zone = excluded.time_zone,
        until_date = excluded.until_date, occurrences = excluded.occurrences, status = excluded.status,
        cancel_reason = excluded.cancel_reason, cancelled_at = excluded.cancelled_at
    WHERE (x.external_ref, x.client_id, x.service_id, x.resource_id, x.frequency, x.monthly_by, x.first_starts_at,
           x.time_zone, x.until_date, x.occurrences, x.status, x.cancel_reason)
          IS DISTINCT FROM
          (coalesce(excluded.external_ref, x.external_ref), excluded.client_id, excluded.service_id,
           excluded.resource_id, excluded.frequency, excluded.monthly_by, excluded.first_starts_at,
           excluded.time_zone, excluded.until_date, excluded.occurrences, excluded.status, excluded.cancel_reason)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM written
