-- Replaces an agent's key (rotate-key); the old key stops working at once.
UPDATE agents SET key_prefix = %(key_prefix)s, key_hash = %(key_hash)s
WHERE tenant_id = %(tenant_id)s AND id = %(agent_id)s
