-- One keyset page of the tasks the caller's scope shows, newest first, with optional filters.
-- Index: tasks_created_idx (tenant_id, created_at DESC, id DESC), or a related-id index.
SELECT id, type, title, payload, priority, status, requires_approval, assignee_agent_id, created_by_agent_id,
       claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after, due_at, last_error, errors,
       result, client_id, appointment_id, invoice_id, completed_at, created_at, updated_at
FROM tasks
WHERE tenant_id = bizctx_tenant()
  AND (%(scope)s::text = 'all' OR assignee_agent_id = bizctx_agent() OR created_by_agent_id = bizctx_agent())
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(type)s::text IS NULL OR type = %(type)s::text)
  AND (%(assignee_agent_id)s::uuid IS NULL OR assignee_agent_id = %(assignee_agent_id)s::uuid)
  AND (%(client_id)s::uuid IS NULL OR client_id = %(client_id)s::uuid)
  AND (%(appointment_id)s::uuid IS NULL OR appointment_id = %(appointment_id)s::uuid)
  AND (%(invoice_id)s::uuid IS NULL OR invoice_id = %(invoice_id)s::uuid)
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
