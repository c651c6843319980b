-- A delivery's follow-up task takes the corrected follow-up time (none: now), while no agent
-- has it yet; a task claimed or done stays as it is. Index: tasks primary key.
UPDATE tasks
SET run_after = coalesce(%(follow_up_at)s::timestamptz, statement_timestamp()),
    due_at = %(follow_up_at)s::timestamptz,
    updated_at = now()
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'pending'
