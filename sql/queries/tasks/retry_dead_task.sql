-- Brings a dead task back to pending (the tasks_revive trigger resets its attempts, run_after
-- and last error; its errors history stays); nothing when it is not dead. Index: tasks primary key.
UPDATE task_rows
SET status = 'pending'
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'dead' AND type <> 'approval'
RETURNING *
