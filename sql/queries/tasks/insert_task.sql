-- A new task created by the calling agent (pending, or awaiting_approval when it requires
-- approval). Foreign keys: tasks_assignee_fk, tasks_client_fk, tasks_appointment_fk, tasks_invoice_fk,
-- tasks_parent_fk (a parent the caller can see: checked before).
INSERT INTO task_rows (tenant_id, type, title, payload, priority, requires_approval, assignee_agent_id,
                       created_by_agent_id, max_attempts, run_after, due_at, client_id, appointment_id,
                       invoice_id, parent_task_id)
VALUES (bizctx_tenant(), %(type)s::text, %(title)s::text, %(payload)s::jsonb, %(priority)s::integer,
        %(requires_approval)s::boolean, %(assignee_agent_id)s::uuid, bizctx_agent(), %(max_attempts)s::integer,
        coalesce(%(run_after)s::timestamptz, now()), %(due_at)s::timestamptz, %(client_id)s::uuid,
        %(appointment_id)s::uuid, %(invoice_id)s::uuid, %(parent_task_id)s::uuid)
RETURNING *
