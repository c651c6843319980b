-- A ladder for an invoice and its steps (the tenant's collection_ladders: days after the due
-- date, at 09:00 in the business's zone); its id. Index: collections_active_key (one
-- running), collection_ladders primary key.
WITH started AS (
    INSERT INTO collections (tenant_id, invoice_id, client_id, started_by_agent_id)
    SELECT i.tenant_id, i.id, i.client_id, bizctx_agent()
    FROM invoices i
    WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s
    RETURNING id, invoice_id
),
steps AS (
    INSERT INTO collection_steps (tenant_id, collection_id, step, channel, template, due_at)
    SELECT bizctx_tenant(), s.id, l.step, l.channel, l.template,
           ((i.due_date + l.days) + time '09:00') AT TIME ZONE t.time_zone
    FROM started s
    JOIN invoices i ON i.tenant_id = bizctx_tenant() AND i.id = s.invoice_id
    JOIN tenants t ON t.id = bizctx_tenant()
    JOIN collection_ladders l ON l.tenant_id = bizctx_tenant()
)
SELECT id FROM started
