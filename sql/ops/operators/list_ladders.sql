-- Collections ladders, of one tenant or all, step by step.
SELECT t.name AS tenant_name, l.step, l.days, l.channel, l.template
FROM collection_ladders l
JOIN tenants t ON t.id = l.tenant_id
WHERE (%(tenant_id)s::uuid IS NULL OR l.tenant_id = %(tenant_id)s::uuid)
ORDER BY t.name, l.step
