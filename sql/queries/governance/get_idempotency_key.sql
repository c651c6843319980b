-- The first call made under the calling agent's key for this tool: its fingerprint, result (or,
-- for a call held for approval, its approval task), the scopes it ran under, entity and time.
-- Index: idempotency_keys primary key.
SELECT fingerprint, result, task_id, scopes, entity_type, entity_id, created_at
FROM idempotency_keys
WHERE tenant_id = bizctx_tenant() AND agent_id = bizctx_agent()
  AND tool = %(tool)s::text AND idempotency_key = %(idempotency_key)s::text
