-- The approval task holding a call, created by the calling agent (it requested it), awaiting
-- approval. Index: tasks primary key.
INSERT INTO task_rows (tenant_id, type, title, payload, priority, requires_approval, created_by_agent_id,
                       max_attempts)
VALUES (bizctx_tenant(), 'approval', %(title)s::text, %(payload)s::jsonb, 0, true, bizctx_agent(), 1)
RETURNING *
