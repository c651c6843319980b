-- The client's latest interactions, newest first, content cut to a bounded length.
-- Index: client_interactions_client_idx.
SELECT id, channel, direction, summary, left(content, %(max_chars)s) AS content,
       length(content) > %(max_chars)s AS content_truncated, occurred_at
FROM client_interactions
WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s
ORDER BY occurred_at DESC, id
LIMIT %(limit)s
