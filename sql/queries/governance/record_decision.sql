-- A decision on an approval task, by an agent or a person. Index: approval_events_task_idx.
INSERT INTO approval_events (tenant_id, task_id, decision, requested_by_agent_id, decided_by_agent_id,
                             decided_by_operator, reason)
VALUES (bizctx_tenant(), %(task_id)s::uuid, %(decision)s::text, %(requested_by_agent_id)s::uuid,
        %(decided_by_agent_id)s::uuid, %(decided_by_operator)s::text, %(reason)s::text)
RETURNING id, task_id, decision, requested_by_agent_id, decided_by_agent_id, decided_by_operator, reason, at
