-- The invoice a ladder is started on, locked (two starts on one invoice take turns), with
-- whether it is overdue in the business's zone and its running ladder, if any. Index:
-- primary key, collections_active_key.
SELECT i.id, i.client_id, i.status, i.invoice_number,
       i.due_date < (now() AT TIME ZONE t.time_zone)::date AS overdue,
       (SELECT c.id FROM collections c
         WHERE c.tenant_id = i.tenant_id AND c.invoice_id = i.id AND c.status = 'active') AS running
FROM invoices i JOIN tenants t ON t.id = i.tenant_id
WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s
FOR UPDATE OF i
