-- One demo task, pending (or awaiting approval); returns its id.
INSERT INTO tasks (tenant_id, type, title, payload, priority, requires_approval, assignee_agent_id,
                   created_by_agent_id, due_at, client_id, max_attempts)
VALUES (%(tenant_id)s, %(type)s, %(title)s, %(payload)s, %(priority)s, %(requires_approval)s,
        %(assignee_agent_id)s, %(created_by_agent_id)s, %(due_at)s, %(client_id)s, %(max_attempts)s)
RETURNING id
