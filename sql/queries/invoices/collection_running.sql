-- The ladder running on an invoice, if any. A statement of its own, after the invoice's lock:
-- it then sees a ladder the other starter committed while this one waited. Index:
-- collections_active_key.
SELECT id FROM collections
WHERE tenant_id = bizctx_tenant() AND invoice_id = %(invoice_id)s AND status = 'active'
