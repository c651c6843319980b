-- Policies (of one tenant, or all), by tenant then age, with the agent a policy targets.
SELECT p.id, t.name AS tenant_name, p.tool, p.effect, p.condition, p.max_calls, p.max_amount,
       p.window_seconds, p.scope, a.name AS agent_name, p.reason, p.default_key, p.created_by, p.created_at
FROM policies p
JOIN tenants t ON t.id = p.tenant_id
LEFT JOIN agents a ON a.tenant_id = p.tenant_id AND a.id = p.agent_id
WHERE (%(tenant_id)s::uuid IS NULL OR p.tenant_id = %(tenant_id)s::uuid)
  AND (%(policy_id)s::uuid IS NULL OR p.id = %(policy_id)s::uuid)
ORDER BY t.name, p.created_at, p.id
