-- Disables or re-enables an agent.
UPDATE agents SET status = %(status)s
WHERE tenant_id = %(tenant_id)s AND id = %(agent_id)s
