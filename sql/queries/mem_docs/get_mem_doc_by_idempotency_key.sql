-- The memory document an earlier remember with this idempotency key wrote, with its owner
-- (a key another agent used is not the caller's to read). Index: mem_docs (tenant_id, idempotency_key).
SELECT id, owner_agent_id, owner_agent_id = bizctx_agent() AS owned_by_me, visibility, doc_type, title,
       content, metadata, CASE WHEN embedding IS NULL THEN NULL ELSE embedding_model END AS embedding_model,
       client_id, task_id, last_accessed, expires_at, created_at, updated_at
FROM mem_docs
WHERE tenant_id = bizctx_tenant() AND idempotency_key = %(idempotency_key)s
