-- The task the caller claimed with this claim key, while its lease runs (a retried claim).
-- Index: tasks_claimed_by_idx (tenant_id, claimed_by_agent_id, status).
SELECT id, type, title, payload, priority, status, requires_approval, assignee_agent_id, created_by_agent_id,
       claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after, due_at, last_error, errors,
       result, client_id, appointment_id, invoice_id, completed_at, created_at, updated_at
FROM tasks
WHERE tenant_id = bizctx_tenant() AND claimed_by_agent_id = bizctx_agent() AND status = 'claimed'
  AND claim_key = %(claim_key)s::text AND lease_expires_at > statement_timestamp()
