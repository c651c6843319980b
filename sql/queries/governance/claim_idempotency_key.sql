-- Claims an idempotency key for the calling agent and tool: a row when the key is new (or
-- its last use expired), nothing when it is taken. A concurrent claim of the same key waits
-- here until the first call commits or rolls back. Index: idempotency_keys primary key.
INSERT INTO idempotency_keys AS k (tenant_id, agent_id, tool, idempotency_key, fingerprint)
VALUES (bizctx_tenant(), bizctx_agent(), %(tool)s::text, %(idempotency_key)s::text, %(fingerprint)s::text)
ON CONFLICT (tenant_id, agent_id, tool, idempotency_key) DO UPDATE
SET fingerprint = excluded.fingerprint, result = NULL, entity_type = NULL, entity_id = NULL, created_at = now()
WHERE k.created_at <= now() - make_interval(days => %(keep_days)s::integer)
RETURNING created_at
