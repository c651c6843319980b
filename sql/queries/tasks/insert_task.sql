-- A new task created by the calling agent (pending, or awaiting_approval when it requires
-- approval); nothing on a repeated idempotency key. Index: tasks (tenant_id, idempotency_key).
INSERT INTO tasks (tenant_id, type, title, payload, priority, requires_approval, assignee_agent_id,
                   created_by_agent_id, max_attempts, run_after, due_at, client_id, appointment_id,
                   invoice_id, idempotency_key)
VALUES (bizctx_tenant(), %(type)s::text, %(title)s::text, %(payload)s::jsonb, %(priority)s::integer,
        %(requires_approval)s::boolean, %(assignee_agent_id)s::uuid, bizctx_agent(), %(max_attempts)s::integer,
        coalesce(%(run_after)s::timestamptz, now()), %(due_at)s::timestamptz, %(client_id)s::uuid,
        %(appointment_id)s::uuid, %(invoice_id)s::uuid, %(idempotency_key)s::text)
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id, type, title, payload, priority, status, requires_approval, assignee_agent_id, created_by_agent_id,
       claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after, due_at, last_error, errors,
       result, client_id, appointment_id, invoice_id, completed_at, created_at, updated_at
