-- An approval task's held call, the task row locked until the decision commits (two approvers
-- take turns; the second finds it decided), with the task as agents see it and the latest
-- decision. Index: approval_calls primary key, tasks primary key.
SELECT c.tenant_id, c.task_id, c.tool, c.arguments, c.requested_by_agent_id, c.transport, c.status, c.created_at,
       t.status AS task_status, to_jsonb(t) - 'tenant_id' AS task,
       (SELECT to_jsonb(e) - 'tenant_id' FROM approval_events e
        WHERE e.tenant_id = t.tenant_id AND e.task_id = t.id ORDER BY e.id DESC LIMIT 1) AS last_event
FROM approval_calls c
JOIN task_rows t ON t.tenant_id = c.tenant_id AND t.id = c.task_id
WHERE c.tenant_id = bizctx_tenant() AND c.task_id = %(task_id)s::uuid
FOR UPDATE OF t
