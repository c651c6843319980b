-- One keyset page of the tasks the caller's scope (row policy) shows, newest first, with
-- optional filters. Index: tasks_created_idx (tenant_id, created_at DESC, id DESC); by status
-- tasks_status_created_idx (tenant_id, status, created_at DESC, id DESC); or a related-id index.
SELECT *
FROM task_rows
WHERE tenant_id = bizctx_tenant()
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(type)s::text IS NULL OR type = %(type)s::text)
  AND (%(assignee_agent_id)s::uuid IS NULL OR assignee_agent_id = %(assignee_agent_id)s::uuid)
  AND (%(parent_task_id)s::uuid IS NULL OR parent_task_id = %(parent_task_id)s::uuid)
  AND (%(client_id)s::uuid IS NULL OR client_id = %(client_id)s::uuid)
  AND (%(appointment_id)s::uuid IS NULL OR appointment_id = %(appointment_id)s::uuid)
  AND (%(invoice_id)s::uuid IS NULL OR invoice_id = %(invoice_id)s::uuid)
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
