-- A new policy of a tenant, by an operator; the tenant's policy version moves (trigger).
INSERT INTO policies (tenant_id, tool, condition, effect, max_calls, max_amount, window_seconds, scope, agent_id,
                      reason, created_by)
VALUES (%(tenant_id)s::uuid, %(tool)s::text, %(condition)s::jsonb, %(effect)s::text, %(max_calls)s::integer,
        %(max_amount)s::numeric, %(window_seconds)s::integer, %(per)s::text, %(agent_id)s::uuid,
        %(reason)s::text, %(created_by)s::text)
RETURNING id
