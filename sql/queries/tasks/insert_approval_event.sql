-- One approval request or decision on a task. Index: approval_events_task_idx (tenant_id, task_id, id).
INSERT INTO approval_events (tenant_id, task_id, decision, requested_by_agent_id, decided_by_agent_id, reason)
VALUES (bizctx_tenant(), %(task_id)s::uuid, %(decision)s::text, %(requested_by_agent_id)s::uuid,
        %(decided_by_agent_id)s::uuid, %(reason)s::text)
RETURNING id, task_id, decision, requested_by_agent_id, decided_by_agent_id, decided_by_operator, reason, at
