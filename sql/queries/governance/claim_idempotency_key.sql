-- Claims an idempotency key for the calling agent and tool: a row when the key is new (or
-- its last use expired), nothing when it is taken. A concurrent claim of the same key waits
-- here until the first call commits or rolls back. The agent's other expired keys (and the
-- results they keep) are deleted on the way. Index: idempotency_keys primary key, and
-- idempotency_keys_created_idx for the expired ones.
WITH expired AS (
    DELETE FROM idempotency_keys
    WHERE tenant_id = bizctx_tenant() AND agent_id = bizctx_agent()
      AND created_at <= now() - make_interval(days => %(keep_days)s::integer)
      AND NOT (tool = %(tool)s::text AND idempotency_key = %(idempotency_key)s::text)
)
INSERT INTO idempotency_keys AS k (tenant_id, agent_id, tool, idempotency_key, fingerprint, scopes)
VALUES (bizctx_tenant(), bizctx_agent(), %(tool)s::text, %(idempotency_key)s::text, %(fingerprint)s::text,
        %(scopes)s::jsonb)
ON CONFLICT (tenant_id, agent_id, tool, idempotency_key) DO UPDATE
SET fingerprint = excluded.fingerprint, scopes = excluded.scopes, result = NULL, task_id = NULL,
    entity_type = NULL, entity_id = NULL, created_at = now()
WHERE k.created_at <= now() - make_interval(days => %(keep_days)s::integer)
RETURNING created_at
