-- A tenant's message templates' channels, by name (what a ladder's steps may name).
SELECT name, channel FROM message_templates WHERE tenant_id = %(tenant_id)s::uuid
