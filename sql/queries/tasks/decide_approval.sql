-- Decides a task awaiting approval: approved -> pending (claimable), rejected -> cancelled.
-- Nothing when it is not awaiting approval. Index: tasks primary key.
UPDATE task_rows
SET status = CASE WHEN %(approve)s::boolean THEN 'pending' ELSE 'cancelled' END
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'awaiting_approval'
RETURNING *
