-- A delivery's follow-up task that a correction no longer needs, cancelled while no agent has
-- it yet (a task claimed or done stays: its agent may be on it); its id when cancelled.
-- Index: tasks primary key.
UPDATE tasks SET status = 'cancelled', updated_at = now()
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'pending'
RETURNING id
