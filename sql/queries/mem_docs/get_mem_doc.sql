-- One memory document the caller's mem_docs scope (row policy) shows; expired ones only when
-- asked (for forget). Index: mem_docs primary key (tenant_id, id).
SELECT id, owner_agent_id, owner_agent_id = bizctx_agent() AS owned_by_me, visibility, doc_type, title,
       content, metadata, CASE WHEN embedding IS NULL THEN NULL ELSE embedding_model END AS embedding_model,
       client_id, task_id, last_accessed, expires_at, created_at, updated_at
FROM mem_docs
WHERE tenant_id = bizctx_tenant() AND id = %(mem_doc_id)s
  AND (%(include_expired)s::boolean OR expires_at IS NULL OR expires_at > now())
