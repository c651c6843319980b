-- Removes a tenant's message template by name (a default stays removed: its marker is kept).
DELETE FROM message_templates
WHERE tenant_id = %(tenant_id)s::uuid AND name = %(name)s::text
RETURNING id, name, channel, category
