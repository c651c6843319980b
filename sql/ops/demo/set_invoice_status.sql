-- Issues or voids a demo invoice (the trigger numbers it and checks the transition).
-- Index: invoices primary key.
UPDATE invoices SET status = %(status)s, void_reason = %(void_reason)s
WHERE tenant_id = %(tenant_id)s AND id = %(invoice_id)s
