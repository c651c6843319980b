-- An invoice's payments, oldest first, each with its refunds.
-- Index: payments_invoice_idx (tenant_id, invoice_id, paid_at), refunds_payment_idx.
SELECT p.id, p.invoice_id, p.amount, p.currency,
       p.method, p.reference, p.paid_at, p.notes, p.created_by_agent_id, p.created_at,
       r.refunded, r.refunds
FROM payments p
CROSS JOIN LATERAL bizctx_payment_refunds(p.tenant_id, p.id, p.currency) r
WHERE p.tenant_id = bizctx_tenant() AND p.invoice_id = %(invoice_id)s::uuid
ORDER BY p.paid_at, p.created_at, p.id
