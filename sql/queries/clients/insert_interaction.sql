-- A logged interaction, by the calling agent; nothing on a repeated idempotency key.
-- Index: client_interactions_idempotency_key_key.
INSERT INTO client_interactions (tenant_id, client_id, agent_id, channel, direction, summary, content,
                                 occurred_at, idempotency_key)
SELECT bizctx_tenant(), c.id, bizctx_agent(), %(channel)s, %(direction)s, %(summary)s, %(content)s,
       coalesce(%(occurred_at)s, now()), %(idempotency_key)s
FROM clients c
WHERE c.tenant_id = bizctx_tenant() AND c.id = %(client_id)s AND c.deleted_at IS NULL
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id, client_id, agent_id, channel, direction, summary, content, occurred_at, created_at
