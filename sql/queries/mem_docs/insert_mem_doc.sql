-- A new memory document owned by the calling agent; nothing when the idempotency key was used
-- before (the caller reads the first). Index: mem_docs (tenant_id, idempotency_key).
INSERT INTO mem_docs (tenant_id, owner_agent_id, visibility, doc_type, title, content, metadata, embedding,
                      embedding_model, client_id, task_id, expires_at, idempotency_key)
VALUES (bizctx_tenant(), bizctx_agent(), %(visibility)s, %(doc_type)s, %(title)s, %(content)s, %(metadata)s,
        %(embedding)s::float8[]::vector, %(embedding_model)s, %(client_id)s, %(task_id)s, %(expires_at)s,
        %(idempotency_key)s)
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id, owner_agent_id, true AS owned_by_me, visibility, doc_type, title, content, metadata,
          CASE WHEN embedding IS NULL THEN NULL ELSE embedding_model END AS embedding_model,
          client_id, task_id, last_accessed, expires_at, created_at, updated_at
