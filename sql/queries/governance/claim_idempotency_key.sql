-- Claims an idempotency key for this agent's call of `tool`: a row when the key is new (the
-- call runs), none when a call with it exists. A concurrent call holding the key makes this
-- wait for it to commit or roll back. Index: idempotent_results primary key.
INSERT INTO idempotent_results (tenant_id, agent_id, tool, idempotency_key, fingerprint)
VALUES (bizctx_tenant(), bizctx_agent(), %(tool)s::text, %(idempotency_key)s::text, %(fingerprint)s::text)
ON CONFLICT DO NOTHING
RETURNING true AS claimed
