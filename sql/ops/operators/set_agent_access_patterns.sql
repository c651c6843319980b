-- Replaces an agent's access_patterns (validated by the caller first).
UPDATE agents SET access_patterns = %(access_patterns)s
WHERE tenant_id = %(tenant_id)s AND id = %(agent_id)s
