-- A payment, what is left of it to refund, its currency's minor unit (what an amount may not be
-- finer than), and its invoice's number and status. Index: payments primary key, refunds_payment_idx.
SELECT p.id, p.invoice_id, p.currency, currency_minor_unit(p.currency) AS minor_unit,
       p.amount, p.amount - r.refunded AS refundable,
       i.invoice_number, i.status
FROM payments p
JOIN invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id
CROSS JOIN LATERAL bizctx_payment_refunds(p.tenant_id, p.id, p.currency) r
WHERE p.tenant_id = bizctx_tenant() AND p.id = %(payment_id)s::uuid
