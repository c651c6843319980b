-- Decides a task awaiting approval in the caller's scope: approved -> pending (claimable),
-- rejected -> cancelled. Nothing when it is not awaiting approval. Index: tasks primary key.
UPDATE tasks
SET status = CASE WHEN %(approve)s::boolean THEN 'pending' ELSE 'cancelled' END
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'awaiting_approval'
  AND (%(scope)s::text = 'all' OR assignee_agent_id = bizctx_agent() OR created_by_agent_id = bizctx_agent())
RETURNING id, type, title, payload, priority, status, requires_approval, assignee_agent_id, created_by_agent_id,
       claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after, due_at, last_error, errors,
       result, client_id, appointment_id, invoice_id, completed_at, created_at, updated_at
