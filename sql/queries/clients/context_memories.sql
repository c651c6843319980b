-- Memory documents about the client that the caller's mem_docs scope shows (row policy), not
-- expired, most recently touched first, content cut short. Index: mem_docs (tenant_id, client_id).
SELECT id, doc_type, title, left(content, %(max_chars)s) AS content,
       length(content) > %(max_chars)s AS content_truncated, visibility, updated_at
FROM mem_docs
WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s
  AND (expires_at IS NULL OR expires_at > now())
ORDER BY greatest(updated_at, coalesce(last_accessed, updated_at)) DESC, id
LIMIT %(limit)s
