-- A task's status changes (written by trigger), oldest first, at most limit.
-- Index: task_events_task_idx (tenant_id, task_id, id).
SELECT id, from_status, to_status, agent_id, at, detail
FROM task_events
WHERE tenant_id = bizctx_tenant() AND task_id = %(task_id)s::uuid
ORDER BY id
LIMIT %(limit)s
