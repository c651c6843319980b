-- The client's unfinished tasks, most urgent first; with scope 'assigned', only the caller's
-- (assigned to or created by it). Index: tasks_client_idx.
SELECT id, type, title, status, priority, due_at, created_at
FROM tasks
WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s
  AND status IN ('pending', 'awaiting_approval', 'claimed', 'failed')
  AND (%(scope)s = 'all' OR assignee_agent_id = bizctx_agent() OR created_by_agent_id = bizctx_agent())
ORDER BY priority DESC, due_at NULLS LAST, created_at, id
LIMIT %(limit)s
