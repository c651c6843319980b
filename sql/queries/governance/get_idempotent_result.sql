-- The first result of this agent's call of `tool` with this idempotency key, and the
-- fingerprint of its arguments. Index: idempotent_results primary key.
SELECT fingerprint, result
FROM idempotent_results
WHERE tenant_id = bizctx_tenant() AND agent_id = bizctx_agent()
  AND tool = %(tool)s::text AND idempotency_key = %(idempotency_key)s::text
