-- A demo invoice's total, to size its payments.
-- Index: invoices primary key.
SELECT total FROM invoices WHERE tenant_id = %(tenant_id)s AND id = %(invoice_id)s
