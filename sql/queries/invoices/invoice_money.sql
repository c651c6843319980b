-- An invoice's currency and what is still owed on it (exact), for the
-- policies on calls that move its money. Index: invoices primary key.
SELECT i.currency, i.balance_due
FROM invoices i
WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s::uuid
