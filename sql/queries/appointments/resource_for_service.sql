-- One resource (active or not) and whether it can deliver a service: the capabilities it lacks.
-- Index: resources primary key; services primary key.
SELECT r.id, r.name, r.kind, r.active,
       ARRAY(SELECT c FROM unnest(s.required_capabilities) AS c
             WHERE NOT c = ANY (r.capabilities) ORDER BY c) AS missing_capabilities
FROM resources r
JOIN services s ON s.tenant_id = r.tenant_id AND s.id = %(service_id)s::uuid
WHERE r.tenant_id = bizctx_tenant() AND r.id = %(resource_id)s::uuid
