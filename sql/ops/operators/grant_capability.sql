-- Grants one capability; granting it twice is a no-op.
INSERT INTO agent_capabilities (tenant_id, agent_id, capability)
VALUES (%(tenant_id)s, %(agent_id)s, %(capability)s)
ON CONFLICT DO NOTHING
