-- Puts a pending task on hold until an approver decides; nothing when it is not pending.
-- Index: tasks primary key (tenant_id, id).
UPDATE task_rows
SET status = 'awaiting_approval'
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'pending'
RETURNING *
