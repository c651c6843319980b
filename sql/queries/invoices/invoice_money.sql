-- An invoice's currency and what is still owed on it (at the currency's minor unit), for the
-- policies on calls that move its money. Index: invoices primary key.
SELECT i.currency, round(i.balance_due, currency_minor_unit(i.currency)) AS balance_due
FROM invoices i
WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s::uuid
