-- The overdue balance per currency and how many invoices make it up, as of today in the
-- business time zone. Index: invoices_receivable_idx (tenant_id, due_date).
SELECT i.currency, sum(i.balance_due) AS amount,
       count(*) AS invoices
FROM invoices i
CROSS JOIN (SELECT bizctx_today() AS today) d
WHERE i.tenant_id = bizctx_tenant() AND bizctx_is_overdue(i.status, i.due_date, d.today)
GROUP BY i.currency
ORDER BY i.currency
