-- An agent's own fair-use limit (calls per minute; NULL: the server's default).
UPDATE agents SET calls_per_minute = %(calls_per_minute)s::integer
WHERE tenant_id = %(tenant_id)s AND id = %(agent_id)s
