-- One keyset page of the tenant's agents by name: role, description, parent, status,
-- capabilities and when each last called (never a key, its prefix or its hash).
-- Index: agents (tenant_id, name) unique; bizctx_agents_last_seen() probes audit_logs_agent_idx.
SELECT a.id, a.name, a.role, a.description, a.status, a.parent_agent_id, p.name AS parent_name,
       ARRAY(SELECT c.capability FROM agent_capabilities c
             WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id ORDER BY 1) AS capabilities,
       s.last_seen_at, a.created_at
FROM agents a
LEFT JOIN agents p ON p.tenant_id = a.tenant_id AND p.id = a.parent_agent_id
LEFT JOIN bizctx_agents_last_seen() s ON s.agent_id = a.id
WHERE a.tenant_id = bizctx_tenant()
  AND (%(role)s::text IS NULL OR a.role = %(role)s::text)
  AND (%(status)s::text IS NULL OR a.status = %(status)s::text)
  AND (%(after_name)s::text IS NULL OR a.name > %(after_name)s::text)
ORDER BY a.name
LIMIT %(limit)s
