-- The interaction an earlier call with this idempotency key logged.
-- Index: client_interactions_idempotency_key_key.
SELECT id, client_id, agent_id, channel, direction, summary, content, occurred_at, created_at
FROM client_interactions
WHERE tenant_id = bizctx_tenant() AND idempotency_key = %(idempotency_key)s
