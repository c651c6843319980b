-- The invoice a payment, void or issue is about, locked until commit (they take turns on one
-- invoice), with its currency's minor unit, its dates and today in the business time zone.
-- Index: invoices primary key.
SELECT i.id, i.invoice_number, i.status, i.currency, currency_minor_unit(i.currency) AS minor_unit,
       i.total, i.balance_due, i.amount_paid, i.credited,
       i.issue_date, i.due_date, bizctx_today() AS today
FROM invoices i
WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s::uuid
FOR UPDATE
