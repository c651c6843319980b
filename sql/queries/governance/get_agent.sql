-- One agent with its tenant and capabilities, as it is now. Index: agents primary key.
SELECT a.id, a.tenant_id, t.name AS tenant_name, t.time_zone, a.name, a.status, a.access_patterns, a.calls_per_minute,
       ARRAY(SELECT c.capability FROM agent_capabilities c
             WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id ORDER BY 1) AS capabilities
FROM agents a
JOIN tenants t ON t.id = a.tenant_id
WHERE a.tenant_id = %(tenant_id)s AND a.id = %(agent_id)s
