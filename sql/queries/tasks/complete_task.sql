-- Completes a task the caller holds under a running lease, with its result; nothing otherwise.
-- Index: tasks primary key (tenant_id, id).
UPDATE task_rows
SET status = 'completed', result = %(result)s::jsonb
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'claimed'
  AND claimed_by_agent_id = bizctx_agent() AND lease_expires_at > statement_timestamp()
RETURNING *
