-- Cancels a task nobody holds (pending, awaiting approval, or failed and waiting to retry),
-- with the reason; nothing when it is in another state. Approval tasks are decided, not
-- cancelled. Index: tasks primary key.
UPDATE task_rows
SET status = 'cancelled', cancel_reason = %(reason)s::text
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid
  AND status IN ('pending', 'awaiting_approval', 'failed') AND type <> 'approval'
RETURNING *
