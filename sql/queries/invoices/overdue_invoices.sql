-- Overdue invoices (open or partly paid, due before today in the business time zone),
-- longest overdue first, at most limit. Index: invoices_receivable_idx (tenant_id, due_date).
SELECT i.id, i.invoice_number, i.status, i.issue_date, i.due_date, i.currency,
       i.total, i.amount_paid, i.credited, i.balance_due,
       true AS overdue, bizctx_days_overdue(i.status, i.due_date, d.today) AS days_overdue, i.created_at,
       c.id AS client_id, c.display_name AS client_name, c.email AS client_email,
       coalesce(c.phone, c.mobile_phone) AS client_phone
FROM invoices i
CROSS JOIN (SELECT bizctx_today() AS today) d
JOIN clients c ON c.tenant_id = i.tenant_id AND c.id = i.client_id
WHERE i.tenant_id = bizctx_tenant() AND bizctx_is_overdue(i.status, i.due_date, d.today)
ORDER BY i.due_date, i.id
LIMIT %(limit)s
