-- Removes a tenant's contact rule by name (a default stays removed: its marker is kept).
DELETE FROM compliance_rules
WHERE tenant_id = %(tenant_id)s::uuid AND name = %(name)s::text
RETURNING id, name, kind
