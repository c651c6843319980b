-- The agent holding a key (by the key's sha256), with its tenant and capabilities.
-- Runs as the operator: the tenant is not known yet. Index: agents_key_hash_idx.
SELECT a.id, a.tenant_id, t.name AS tenant_name, t.time_zone, a.name, a.status, a.access_patterns, a.calls_per_minute,
       ARRAY(SELECT c.capability FROM agent_capabilities c
             WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id ORDER BY 1) AS capabilities
FROM agents a
JOIN tenants t ON t.id = a.tenant_id
WHERE a.key_hash = %(key_hash)s
