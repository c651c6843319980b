-- A new invoice by the calling agent: open (numbered by trigger from the tenant's counter) or
-- a draft, under the id the caller chose; its id.
INSERT INTO invoices (tenant_id, id, client_id, status, issue_date, due_date, currency, notes, created_by_agent_id)
VALUES (bizctx_tenant(), %(id)s::uuid, %(client_id)s::uuid, %(status)s::text, %(issue_date)s::date, %(due_date)s::date,
        %(currency)s::char(3), %(notes)s::text, bizctx_agent())
RETURNING id
