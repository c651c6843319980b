-- The task a create_task with this idempotency_key made, and whether the caller's scope shows it.
-- Index: tasks (tenant_id, idempotency_key) unique.
SELECT id, type, title, payload, priority, status, requires_approval, assignee_agent_id, created_by_agent_id,
       claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after, due_at, last_error, errors,
       result, client_id, appointment_id, invoice_id, completed_at, created_at, updated_at,
       (%(scope)s::text = 'all' OR assignee_agent_id = bizctx_agent() OR created_by_agent_id = bizctx_agent()) AS in_scope
FROM tasks
WHERE tenant_id = bizctx_tenant() AND idempotency_key = %(idempotency_key)s::text
