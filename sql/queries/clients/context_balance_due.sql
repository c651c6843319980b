-- What the client owes, per currency, over all open and partly paid invoices.
-- Index: invoices (tenant_id, client_id).
SELECT currency, sum(balance_due) AS amount, count(*) AS invoices
FROM invoices
WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND status IN ('open', 'partial')
GROUP BY currency
ORDER BY currency
