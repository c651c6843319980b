-- Claims an idempotency key for the calling agent and tool: one row with claimed = true when
-- the key is new (or its last use expired); else the first call made with it (claimed =
-- false), or no row when that call committed while this statement waited for it (its row is
-- newer than this statement's snapshot: get_idempotency_key reads it). A concurrent claim of
-- the same key waits here until the first call commits or rolls back. The agent's other
-- expired keys (and the results they keep) are deleted on the way. Index: idempotency_keys
-- primary key, and idempotency_keys_created_idx for the expired ones.
WITH expired AS (
    DELETE FROM idempotency_keys
    WHERE tenant_id = bizctx_tenant() AND agent_id = bizctx_agent()
      AND created_at <= now() - make_interval(days => %(keep_days)s::integer)
      AND NOT (tool = %(tool)s::text AND idempotency_key = %(idempotency_key)s::text)
), claimed AS (
    INSERT INTO idempotency_keys AS k (tenant_id, agent_id, tool, idempotency_key, fingerprint, scopes)
    VALUES (bizctx_tenant(), bizctx_agent(), %(tool)s::text, %(idempotency_key)s::text, %(fingerprint)s::text,
            %(scopes)s::jsonb)
    ON CONFLICT (tenant_id, agent_id, tool, idempotency_key) DO UPDATE
    SET fingerprint = excluded.fingerprint, scopes = excluded.scopes, result = NULL, task_id = NULL,
        entity_type = NULL, entity_id = NULL, created_at = now()
    WHERE k.created_at <= now() - make_interval(days => %(keep_days)s::integer)
    RETURNING created_at
)
SELECT true AS claimed, NULL::text AS fingerprint, NULL::jsonb AS result, NULL::uuid AS task_id,
       NULL::jsonb AS scopes, NULL::text AS entity_type, NULL::text AS entity_id, created_at
FROM claimed
UNION ALL
SELECT false, k.fingerprint, k.result, k.task_id, k.scopes, k.entity_type, k.entity_id, k.created_at
FROM idempotency_keys k
WHERE NOT EXISTS (SELECT 1 FROM claimed)
  AND k.tenant_id = bizctx_tenant() AND k.agent_id = bizctx_agent()
  AND k.tool = %(tool)s::text AND k.idempotency_key = %(idempotency_key)s::text
