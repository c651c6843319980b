-- Inserts new appointments and updates changed ones from the staged rows (status changes go
-- through the schema's transition check; held resources follow by trigger). Returns how many
-- were inserted and updated. Index: appointments primary key (tenant_id, id).
WITH written AS (
    INSERT INTO appointments AS a (tenant_id, id, external_ref, client_id, service_id, status, starts_at, ends_at,
                                   location, notes, price, currency, cancellation_reason, series_id)
    SELECT %(tenant_id)s, s.id, btrim(s.external_ref), s.client_id, s.service_id,
           coalesce(lower(btrim(s.status)), 'scheduled'), btrim(s.starts_at)::timestamptz,
           coalesce(btrim(s.ends_at)::timestamptz,
                    btrim(s.starts_at)::timestamptz + make_interval(mins => v.duration_minutes)),
           s.location, s.notes, btrim(s.price)::numeric,
           CASE WHEN s.price IS NOT NULL THEN coalesce(upper(btrim(s.currency)), v.currency) END,
           s.cancellation_reason, s.series_id
    FROM bizctx_import.appointments s
    JOIN services v ON v.tenant_id = %(tenant_id)s AND v.id = s.service_id
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET external_ref = coalesce(excluded.external_ref, a.external_ref), client_id = excluded.client_id,
        service_id = excluded.service_id, status = excluded.status, starts_at = excluded.starts_at,
        ends_at = excluded.ends_at, location = excluded.location, notes = excluded.notes, price = excluded.price,
        currency = excluded.currency, cancellation_reason = excluded.cancellation_reason,
        series_id = excluded.series_id
    WHERE (a.external_ref, a.client_id, a.service_id, a.status, a.starts_at, a.ends_at, a.location, a.notes,
           a.price, a.currency, a.cancellation_reason, a.series_id)
          IS DISTINCT FROM
          (coalesce(excluded.external_ref, a.external_ref), excluded.client_id, excluded.service_id,
           excluded.status, excluded.starts_at, excluded.ends_at, excluded.location, excluded.notes, excluded.price,
           excluded.currency, excluded.cancellation_reason, excluded.series_id)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM written
