-- The times a task went dead, oldest first: when, its last error, and whether (and by whom) it
-- was retried since. Index: dead_letters_task_idx (tenant_id, task_id, moved_at).
SELECT id, moved_at, last_error, processed_at, processed_by_agent_id
FROM dead_letters
WHERE tenant_id = bizctx_tenant() AND task_id = %(task_id)s::uuid
ORDER BY moved_at, id
