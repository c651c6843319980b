-- A logged interaction with a live client, by the calling agent; nothing when there is no
-- such client. Index: clients primary key.
INSERT INTO client_interactions (tenant_id, client_id, agent_id, channel, direction, summary, content,
                                 occurred_at, category)
SELECT bizctx_tenant(), c.id, bizctx_agent(), %(channel)s, %(direction)s, %(summary)s, %(content)s,
       coalesce(%(occurred_at)s, now()), %(category)s
FROM clients c
WHERE c.tenant_id = bizctx_tenant() AND c.id = %(client_id)s AND c.deleted_at IS NULL
RETURNING id, client_id, agent_id, channel, direction, summary, content, occurred_at, created_at, category
