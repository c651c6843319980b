-- The tenant's recurring series in import form (their occurrences are appointments, which
-- name them by series_ref); one without an external_ref is named by its id. The first start
-- is shown in the series' own time zone. Index: appointment_series primary key.
SELECT json_build_object(
    'external_ref', coalesce(s.external_ref, s.id::text),
    'client_ref', coalesce(c.external_ref, c.id::text),
    'service_code', v.code,
    'resource_ref', coalesce(r.external_ref, r.id::text),
    'frequency', s.frequency,
    'monthly_by', s.monthly_by,
    'first_starts_at', bizctx_import.iso_timestamp(s.first_starts_at, s.time_zone),
    'time_zone', s.time_zone,
    'until_date', to_char(s.until_date, 'YYYY-MM-DD'),
    'occurrences', s.occurrences::text,
    'status', s.status,
    'cancel_reason', s.cancel_reason
) AS record
FROM appointment_series s
JOIN clients c ON c.tenant_id = s.tenant_id AND c.id = s.client_id
JOIN services v ON v.tenant_id = s.tenant_id AND v.id = s.service_id
LEFT JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
WHERE s.tenant_id = %(tenant_id)s
ORDER BY s.first_starts_at, s.external_ref NULLS LAST, s.id
