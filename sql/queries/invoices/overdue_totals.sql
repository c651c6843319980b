-- The overdue balance per currency and how many invoices make it up, as of today in the
-- business time zone. Index: invoices_receivable_idx (tenant_id, due_date).
SELECT i.currency, round(sum(i.balance_due), currency_minor_unit(i.currency)) AS amount,
       count(*) AS invoices
FROM invoices i
JOIN tenants t ON t.id = i.tenant_id
WHERE i.tenant_id = bizctx_tenant() AND i.status IN ('open', 'partial')
  AND i.due_date < (now() AT TIME ZONE t.time_zone)::date
GROUP BY i.currency
ORDER BY i.currency
