-- A draft becomes open; the invoices_check trigger gives it the tenant's next number under
-- the counter's lock, so a failed issue rolls its number back with it and numbers stay
-- gapless. Index: invoices primary key.
UPDATE invoices
SET status = 'open', issue_date = %(issue_date)s::date, due_date = %(due_date)s::date
WHERE tenant_id = bizctx_tenant() AND id = %(invoice_id)s::uuid AND status = 'draft'
