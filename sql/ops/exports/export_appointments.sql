-- The tenant's appointments in import form: references as external refs (a bizctx id where a
-- row has none), times in the tenant's time zone, by start. Index: appointments_starts_idx;
-- appointment_series primary key for an occurrence's series.
SELECT json_build_object(
    'external_ref', a.external_ref,
    'client_ref', coalesce(c.external_ref, c.id::text),
    'service_code', v.code,
    'resource_refs', coalesce((
        SELECT json_agg(coalesce(r.external_ref, r.id::text) ORDER BY coalesce(r.external_ref, r.id::text))
        FROM appointment_resources ar
        JOIN resources r ON r.tenant_id = ar.tenant_id AND r.id = ar.resource_id
        WHERE ar.tenant_id = a.tenant_id AND ar.appointment_id = a.id), '[]'::json),
    'starts_at', bizctx_import.iso_timestamp(a.starts_at, t.time_zone),
    'ends_at', bizctx_import.iso_timestamp(a.ends_at, t.time_zone),
    'status', a.status,
    'location', a.location,
    'notes', a.notes,
    'price', bizctx_import.money_text(a.price, a.currency),
    'currency', a.currency,
    'cancellation_reason', a.cancellation_reason,
    'series_ref', (SELECT coalesce(x.external_ref, x.id::text) FROM appointment_series x
                   WHERE x.tenant_id = a.tenant_id AND x.id = a.series_id)
) AS record
FROM appointments a
JOIN tenants t ON t.id = a.tenant_id
JOIN clients c ON c.tenant_id = a.tenant_id AND c.id = a.client_id
JOIN services v ON v.tenant_id = a.tenant_id AND v.id = a.service_id
WHERE a.tenant_id = %(tenant_id)s
ORDER BY a.starts_at, a.external_ref NULLS LAST, a.id
