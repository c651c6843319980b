-- Message templates, of one tenant or all, by tenant and name.
SELECT m.id, t.name AS tenant_name, m.name, m.channel, m.category, m.subject, m.body, m.updated_at
FROM message_templates m
JOIN tenants t ON t.id = m.tenant_id
WHERE (%(tenant_id)s::uuid IS NULL OR m.tenant_id = %(tenant_id)s::uuid)
  AND (%(name)s::text IS NULL OR m.name = %(name)s::text)
ORDER BY t.name, m.name
