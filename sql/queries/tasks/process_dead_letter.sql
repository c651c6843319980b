-- Marks a task's open dead letter processed by the calling agent (the task was retried).
-- Index: dead_letters_open_idx (tenant_id, task_id) WHERE processed_at IS NULL.
UPDATE dead_letters
SET processed_at = now(), processed_by_agent_id = bizctx_agent()
WHERE tenant_id = bizctx_tenant() AND task_id = %(task_id)s::uuid AND processed_at IS NULL
