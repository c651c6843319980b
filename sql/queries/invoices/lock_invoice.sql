-- The invoice a payment or void is about, locked until commit (payments and voids of one
-- invoice take turns), with its currency's minor unit. Index: invoices primary key.
SELECT i.id, i.invoice_number, i.status, i.currency, currency_minor_unit(i.currency) AS minor_unit,
       round(i.total, currency_minor_unit(i.currency)) AS total,
       round(i.balance_due, currency_minor_unit(i.currency)) AS balance_due
FROM invoices i
WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s::uuid
FOR UPDATE
