-- One service (active or not) with the business time zone the caller's outputs use.
-- Index: services primary key (tenant_id, id).
SELECT s.id, s.code, s.name, s.description, s.duration_minutes, s.price, s.currency,
       s.required_capabilities, s.active, t.time_zone
FROM services s
JOIN tenants t ON t.id = s.tenant_id
WHERE s.tenant_id = bizctx_tenant() AND s.id = %(service_id)s::uuid
