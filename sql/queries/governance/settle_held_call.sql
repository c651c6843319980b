-- Records the decision on a held call and, if it ran, its result or error.
-- Index: approval_calls primary key.
UPDATE approval_calls
SET status = %(status)s::text, result = %(result)s::jsonb, error = %(error)s::jsonb,
    decided_by_agent_id = %(decided_by_agent_id)s::uuid, decided_by_operator = %(decided_by_operator)s::text,
    reason = %(reason)s::text, decided_at = now()
WHERE tenant_id = bizctx_tenant() AND task_id = %(task_id)s::uuid AND status = 'pending'
