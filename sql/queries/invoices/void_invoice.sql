-- Voids a draft or an open invoice with nothing paid; returns its id, or nothing when it is
-- not in one of those states. Index: invoices primary key.
UPDATE invoices
SET status = 'void', void_reason = %(reason)s::text
WHERE tenant_id = bizctx_tenant() AND id = %(invoice_id)s::uuid
  AND (status = 'draft' OR (status = 'open' AND amount_paid = 0))
RETURNING id
