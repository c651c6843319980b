-- Completes a task the caller holds under a running lease, with its result; nothing otherwise.
-- Index: tasks primary key (tenant_id, id).
UPDATE tasks
SET status = 'completed', result = %(result)s::jsonb
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'claimed'
  AND claimed_by_agent_id = bizctx_agent() AND lease_expires_at > statement_timestamp()
  AND (%(scope)s::text = 'all' OR assignee_agent_id = bizctx_agent() OR created_by_agent_id = bizctx_agent())
RETURNING id, type, title, payload, priority, status, requires_approval, assignee_agent_id, created_by_agent_id,
       claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after, due_at, last_error, errors,
       result, client_id, appointment_id, invoice_id, completed_at, created_at, updated_at
