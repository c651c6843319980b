-- Stores the result of the call that claimed the key (deferred to the commit's round trip).
-- Index: idempotent_results primary key.
UPDATE idempotent_results SET result = %(result)s::jsonb
WHERE tenant_id = bizctx_tenant() AND agent_id = bizctx_agent()
  AND tool = %(tool)s::text AND idempotency_key = %(idempotency_key)s::text
