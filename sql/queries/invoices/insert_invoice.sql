-- A new invoice (open, numbered by trigger from the tenant's counter; or a draft) for the
-- calling agent; nothing on a repeated idempotency key. Index: invoices (tenant_id, idempotency_key).
INSERT INTO invoices (tenant_id, client_id, status, issue_date, due_date, currency, notes,
                      idempotency_key, created_by_agent_id)
VALUES (bizctx_tenant(), %(client_id)s::uuid, %(status)s::text, %(issue_date)s::date, %(due_date)s::date,
        %(currency)s::char(3), %(notes)s::text, %(idempotency_key)s::text, bizctx_agent())
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id
