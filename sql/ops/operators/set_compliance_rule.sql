-- A tenant's contact rule by name, added or replaced whole (migration 0075 checks its shape).
INSERT INTO compliance_rules (tenant_id, name, kind, channels, action, allowed_from, allowed_until,
                              max_contacts, window_days, reason, categories, created_by)
VALUES (%(tenant_id)s::uuid, %(name)s::text, %(kind)s::text, %(channels)s::text[], %(action)s::text,
        %(allowed_from)s::time, %(allowed_until)s::time, %(max_contacts)s::integer, %(window_days)s::integer,
        %(reason)s::text, %(categories)s::text[], %(created_by)s::text)
ON CONFLICT (tenant_id, name) DO UPDATE
SET kind = EXCLUDED.kind, channels = EXCLUDED.channels, action = EXCLUDED.action,
    allowed_from = EXCLUDED.allowed_from, allowed_until = EXCLUDED.allowed_until,
    max_contacts = EXCLUDED.max_contacts, window_days = EXCLUDED.window_days, reason = EXCLUDED.reason,
    categories = EXCLUDED.categories, created_by = EXCLUDED.created_by
RETURNING id
