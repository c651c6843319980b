-- The work queue as the caller sees it as a worker (unassigned or assigned to it, within its
-- scope, a row policy): how many tasks are ready, scheduled, claimed, awaiting approval; the next scheduled run.
-- Index: tasks_status_created_idx (tenant_id, status, created_at DESC, id DESC).
SELECT count(*) FILTER (WHERE (status IN ('pending', 'failed') AND run_after <= statement_timestamp())
                           OR (status = 'claimed' AND lease_expires_at <= statement_timestamp()
                               AND attempts < max_attempts)) AS ready,
       count(*) FILTER (WHERE status IN ('pending', 'failed') AND run_after > statement_timestamp()) AS scheduled,
       count(*) FILTER (WHERE status = 'claimed' AND lease_expires_at > statement_timestamp()) AS claimed,
       count(*) FILTER (WHERE status = 'awaiting_approval') AS awaiting_approval,
       min(run_after) FILTER (WHERE status IN ('pending', 'failed') AND run_after > statement_timestamp())
           AS next_run_after
FROM tasks
WHERE tenant_id = bizctx_tenant() AND status IN ('pending', 'failed', 'claimed', 'awaiting_approval')
  AND (assignee_agent_id IS NULL OR assignee_agent_id = bizctx_agent())
