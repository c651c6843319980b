-- Contact rules, of one tenant or all, by tenant and name.
SELECT r.id, t.name AS tenant_name, r.name, r.kind, r.channels, r.action,
       to_char(r.allowed_from, 'HH24:MI') AS allowed_from, to_char(r.allowed_until, 'HH24:MI') AS allowed_until,
       r.max_contacts, r.window_days, r.reason, r.categories, r.created_by, r.updated_at
FROM compliance_rules r
JOIN tenants t ON t.id = r.tenant_id
WHERE (%(tenant_id)s::uuid IS NULL OR r.tenant_id = %(tenant_id)s::uuid)
  AND (%(name)s::text IS NULL OR r.name = %(name)s::text)
ORDER BY t.name, r.name
