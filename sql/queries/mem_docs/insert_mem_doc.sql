-- A new memory document owned by the calling agent. Foreign keys: mem_docs_client_fk,
-- mem_docs_task_fk.
INSERT INTO mem_docs (tenant_id, owner_agent_id, visibility, doc_type, title, content, metadata, embedding,
                      embedding_model, client_id, task_id, expires_at)
VALUES (bizctx_tenant(), bizctx_agent(), %(visibility)s, %(doc_type)s, %(title)s, %(content)s, %(metadata)s,
        %(embedding)s::float8[]::vector, %(embedding_model)s, %(client_id)s, %(task_id)s, %(expires_at)s)
RETURNING id, owner_agent_id, true AS owned_by_me, visibility, doc_type, title, content, metadata,
          CASE WHEN embedding IS NULL THEN NULL ELSE embedding_model END AS embedding_model,
          client_id, task_id, last_accessed, expires_at, created_at, updated_at
