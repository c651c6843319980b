-- A task's approval requests and decisions, oldest first.
-- Index: approval_events_task_idx (tenant_id, task_id, id).
SELECT id, task_id, decision, requested_by_agent_id, decided_by_agent_id, decided_by_operator, reason, at
FROM approval_events
WHERE tenant_id = bizctx_tenant() AND task_id = %(task_id)s::uuid
ORDER BY id
