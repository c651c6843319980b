-- Revokes one capability.
DELETE FROM agent_capabilities
WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s AND capability = %(capability)s
