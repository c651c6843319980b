-- The client's open and partly paid invoices, oldest due first, with whether each is overdue
-- in the business time zone. Index: invoices (tenant_id, client_id).
SELECT i.id, i.invoice_number, i.status, i.issue_date, i.due_date, i.currency, i.total, i.balance_due,
       i.due_date < (now() AT TIME ZONE t.time_zone)::date AS overdue
FROM invoices i
JOIN tenants t ON t.id = i.tenant_id
WHERE i.tenant_id = bizctx_tenant() AND i.client_id = %(client_id)s AND i.status IN ('open', 'partial')
ORDER BY i.due_date, i.id
LIMIT %(limit)s
