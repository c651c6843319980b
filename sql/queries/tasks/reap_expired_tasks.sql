-- Claimed tasks the caller could claim whose lease expired on their last attempt become dead
-- (the trigger moves them to dead_letters): nobody may claim them again. Rows locked by
-- another call are left to it. Index: tasks_lease_idx (tenant_id, lease_expires_at) WHERE claimed.
WITH stale AS (
    SELECT tenant_id, id
    FROM tasks
    WHERE tenant_id = bizctx_tenant() AND status = 'claimed'
      AND lease_expires_at <= statement_timestamp() AND attempts >= max_attempts
      AND (assignee_agent_id IS NULL OR assignee_agent_id = bizctx_agent())
      AND (%(task_types)s::text[] IS NULL OR type = ANY (%(task_types)s::text[]))
    FOR UPDATE SKIP LOCKED
)
UPDATE tasks t
SET status = 'dead', last_error = 'lease expired on the last attempt'
FROM stale
WHERE t.tenant_id = stale.tenant_id AND t.id = stale.id
