-- A keyset page of the service catalog by (name, id): active services unless asked for all.
-- Index: services_active_idx (tenant_id, name) WHERE active.
SELECT s.id, s.code, s.name, s.description, s.duration_minutes, s.price, s.currency, s.tax_pct,
       s.required_capabilities, s.active
FROM services s
WHERE s.tenant_id = bizctx_tenant()
  AND (s.active OR %(include_inactive)s::boolean)
  AND (%(after_name)s::text IS NULL OR (s.name, s.id) > (%(after_name)s::text, %(after_id)s::uuid))
ORDER BY s.name, s.id
LIMIT %(limit)s
