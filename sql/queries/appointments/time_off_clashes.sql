-- The booked appointments (active holds) of a resource that overlap a range, earliest first.
-- Index: appointment_resources_no_double_booking (the exclusion gist index).
SELECT a.id AS appointment_id, a.starts_at, a.ends_at, a.status, s.name AS service_name
FROM appointment_resources ar
JOIN appointments a ON a.tenant_id = ar.tenant_id AND a.id = ar.appointment_id
JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
WHERE ar.tenant_id = bizctx_tenant() AND ar.resource_id = %(resource_id)s::uuid AND ar.active
  AND ar.during && tstzrange(%(starts_at)s::timestamptz, %(ends_at)s::timestamptz)
ORDER BY a.starts_at, a.id
