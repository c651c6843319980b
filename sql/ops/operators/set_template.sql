-- A tenant's message template by name, added or replaced whole (migration 0080 checks its
-- placeholders and shape).
INSERT INTO message_templates (tenant_id, name, channel, category, subject, body)
VALUES (%(tenant_id)s::uuid, %(name)s::text, %(channel)s::text, %(category)s::text, %(subject)s::text,
        %(body)s::text)
ON CONFLICT (tenant_id, name) DO UPDATE
SET channel = EXCLUDED.channel, category = EXCLUDED.category, subject = EXCLUDED.subject, body = EXCLUDED.body
RETURNING id
