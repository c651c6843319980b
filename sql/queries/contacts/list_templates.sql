-- The tenant's message templates, by name; a channel or category narrows them. Few per
-- tenant (operators write them), so no paging. Index: message_templates_name_key.
SELECT id, name, channel, category, subject, body, updated_at
FROM message_templates
WHERE tenant_id = bizctx_tenant()
  AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
  AND (%(category)s::text IS NULL OR category = %(category)s::text)
ORDER BY name
LIMIT 200
