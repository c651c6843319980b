-- The client's open and partly paid invoices, oldest due first, with whether each is overdue
-- in the business time zone. Index: invoices (tenant_id, client_id).
SELECT i.id, i.invoice_number, i.status, i.issue_date, i.due_date, i.currency, i.total, i.balance_due,
       bizctx_is_overdue(i.status, i.due_date, d.today) AS overdue
FROM invoices i
CROSS JOIN (SELECT bizctx_today() AS today) d
WHERE i.tenant_id = bizctx_tenant() AND i.client_id = %(client_id)s AND i.status IN ('open', 'partial')
ORDER BY i.due_date, i.id
LIMIT %(limit)s
