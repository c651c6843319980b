-- One keyset page of the business's goals by name (or the one asked for, by id or name), with
-- their owner and parent names; filters: status, type, owner. Index: goals (tenant_id, name) unique.
SELECT g.id, g.name, g.description, g.goal_type, round(g.target_value, 4) AS target_value, g.target_unit,
       g.target_date, g.kpi, g.responsible_agent_id AS owner_agent_id, o.name AS owner_name, g.parent_goal_id, p.name AS parent_name,
       g.status, g.created_by_agent_id, g.created_at, g.updated_at
FROM goals g
LEFT JOIN agents o ON o.tenant_id = g.tenant_id AND o.id = g.responsible_agent_id
LEFT JOIN goals p ON p.tenant_id = g.tenant_id AND p.id = g.parent_goal_id
WHERE g.tenant_id = bizctx_tenant()
  AND (%(goal_id)s::uuid IS NULL OR g.id = %(goal_id)s::uuid)
  AND (%(name)s::text IS NULL OR g.name = %(name)s::text)
  AND (%(status)s::text IS NULL OR g.status = %(status)s::text)
  AND (%(goal_type)s::text IS NULL OR g.goal_type = %(goal_type)s::text)
  AND (%(owner_agent_id)s::uuid IS NULL OR g.responsible_agent_id = %(owner_agent_id)s::uuid)
  AND (%(after_name)s::text IS NULL OR g.name > %(after_name)s::text)
ORDER BY g.name
LIMIT %(limit)s
