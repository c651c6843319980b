-- A live client's interactions, newest first, filtered; keyset-paged on (occurred_at, id).
-- Index: client_interactions_client_idx.
SELECT i.id, i.client_id, i.agent_id, i.channel, i.direction, i.summary, i.content, i.occurred_at,
       i.created_at, i.category
FROM client_interactions i
WHERE i.tenant_id = bizctx_tenant() AND i.client_id = %(client_id)s
  AND (%(channel)s::text IS NULL OR i.channel = %(channel)s::text)
  AND (%(direction)s::text IS NULL OR i.direction = %(direction)s::text)
  AND (%(since)s::timestamptz IS NULL OR i.occurred_at >= %(since)s::timestamptz)
  AND (%(after_at)s::timestamptz IS NULL
       OR (i.occurred_at, i.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY i.occurred_at DESC, i.id DESC
LIMIT %(limit)s
