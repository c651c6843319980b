-- The invoice a ladder is started on, locked (two starts on one invoice take turns), with
-- whether it is overdue in the business's zone. Index: primary key.
SELECT i.id, i.client_id, i.status, i.invoice_number,
       i.due_date < (now() AT TIME ZONE t.time_zone)::date AS overdue
FROM invoices i JOIN tenants t ON t.id = i.tenant_id
WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s
FOR UPDATE OF i
