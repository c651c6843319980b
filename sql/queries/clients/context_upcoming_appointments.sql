-- The client's next appointments (not cancelled or finished), soonest first, for the context view.
-- Index: appointments (tenant_id, client_id, starts_at).
SELECT a.id, a.starts_at, a.ends_at, a.status, s.name AS service_name, a.location
FROM appointments a
JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
WHERE a.tenant_id = bizctx_tenant() AND a.client_id = %(client_id)s
  AND a.ends_at >= now() AND a.status IN ('scheduled', 'confirmed', 'in_progress')
ORDER BY a.starts_at, a.id
LIMIT %(limit)s
