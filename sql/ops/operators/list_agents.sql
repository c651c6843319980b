-- Agents with their tenant and capabilities; all tenants when tenant_id is null.
SELECT a.tenant_id, t.name AS tenant_name, a.id, a.name, a.key_prefix, a.status, a.access_patterns,
       a.created_at,
       ARRAY(SELECT c.capability FROM agent_capabilities c
             WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id ORDER BY 1) AS capabilities
FROM agents a
JOIN tenants t ON t.id = a.tenant_id
WHERE %(tenant_id)s::uuid IS NULL OR a.tenant_id = %(tenant_id)s::uuid
ORDER BY t.name, a.name
