-- A task's subtasks the caller's scope shows, oldest first. Index: tasks_parent_idx.
SELECT id, type, title, status, assignee_agent_id, completed_at, created_at
FROM task_rows
WHERE tenant_id = bizctx_tenant() AND parent_task_id = %(task_id)s::uuid
ORDER BY created_at, id
LIMIT %(limit)s
