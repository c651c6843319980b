-- A template by name, or else the first (by name) for a channel and category. Index:
-- message_templates_name_key.
SELECT id, name, channel, category, subject, body
FROM message_templates
WHERE tenant_id = bizctx_tenant()
  AND (name = %(name)s::text
       OR (%(name)s::text IS NULL AND channel = %(channel)s::text AND category = %(category)s::text))
ORDER BY name
LIMIT 1
