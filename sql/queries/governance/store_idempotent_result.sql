-- What the call that claimed the key answered: its result, or the approval task holding it;
-- stored in its own transaction (sent with the COMMIT). Index: idempotency_keys primary key.
UPDATE idempotency_keys
SET result = %(result)s::jsonb, task_id = %(task_id)s::uuid, entity_type = %(entity_type)s::text,
    entity_id = %(entity_id)s::text
WHERE tenant_id = bizctx_tenant() AND agent_id = bizctx_agent()
  AND tool = %(tool)s::text AND idempotency_key = %(idempotency_key)s::text
