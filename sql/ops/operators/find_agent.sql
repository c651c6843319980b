-- An agent of one tenant by name or id (as text), for the CLI, with its place in the directory.
SELECT a.tenant_id, a.id, a.name, a.key_prefix, a.status, a.access_patterns, a.created_at, a.role, a.description,
       (SELECT p.name FROM agents p WHERE p.tenant_id = a.tenant_id AND p.id = a.parent_agent_id) AS parent,
       ARRAY(SELECT c.capability FROM agent_capabilities c
             WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id ORDER BY 1) AS capabilities
FROM agents a
WHERE a.tenant_id = %(tenant_id)s AND (a.name = %(ref)s OR a.id::text = %(ref)s)
