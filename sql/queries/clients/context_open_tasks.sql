-- The client's unfinished tasks the caller's task scope shows (row policy), most urgent
-- first. Index: tasks_client_idx.
SELECT id, type, title, status, priority, due_at, created_at
FROM tasks
WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s
  AND status IN ('pending', 'awaiting_approval', 'claimed', 'failed')
ORDER BY priority DESC, due_at NULLS LAST, created_at, id
LIMIT %(limit)s
