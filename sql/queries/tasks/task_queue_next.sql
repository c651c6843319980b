-- The tasks claim_next_task would hand the caller next, in claim order, at most limit (read
-- only: nothing is locked; the scope is a row policy). Index: tasks_queue_idx (ordered scan) and tasks_lease_idx.
SELECT * FROM (
    (SELECT id, type, title, priority, status, attempts, max_attempts, run_after, due_at, assignee_agent_id,
            created_at
     FROM tasks
     WHERE tenant_id = bizctx_tenant()
       AND status IN ('pending', 'failed') AND run_after <= statement_timestamp()
       AND (assignee_agent_id IS NULL OR assignee_agent_id = bizctx_agent())
     ORDER BY priority DESC, run_after, created_at, id
     LIMIT %(limit)s)
    UNION ALL
    (SELECT id, type, title, priority, status, attempts, max_attempts, run_after, due_at, assignee_agent_id,
            created_at
     FROM tasks
     WHERE tenant_id = bizctx_tenant()
       AND status = 'claimed' AND lease_expires_at <= statement_timestamp() AND attempts < max_attempts
       AND (assignee_agent_id IS NULL OR assignee_agent_id = bizctx_agent())
     ORDER BY priority DESC, run_after, created_at, id
     LIMIT %(limit)s)
) candidates
ORDER BY priority DESC, run_after, created_at, id
LIMIT %(limit)s
