-- How many active resources can deliver a service: what a slot search tries at each start
-- time. Index: resources_capabilities_idx.
SELECT count(*)
FROM resources r
JOIN services s ON s.tenant_id = r.tenant_id AND s.id = %(service_id)s::uuid
WHERE r.tenant_id = bizctx_tenant() AND r.active AND r.capabilities @> s.required_capabilities
