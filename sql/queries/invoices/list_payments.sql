-- One keyset page of payments, newest first, each with its invoice, client and refunds;
-- filters: client, invoice. Index: payments_paid_at_idx (tenant_id, paid_at DESC), and
-- payments_invoice_idx for one invoice.
SELECT p.id, p.invoice_id, p.amount, p.currency,
       p.method, p.reference, p.paid_at, p.notes, p.created_by_agent_id, p.created_at,
       r.refunded, r.refunds, i.invoice_number,
       c.id AS client_id, c.display_name AS client_name, c.email AS client_email,
       coalesce(c.phone, c.mobile_phone) AS client_phone
FROM payments p
JOIN invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id
JOIN clients c ON c.tenant_id = i.tenant_id AND c.id = i.client_id
CROSS JOIN LATERAL bizctx_payment_refunds(p.tenant_id, p.id, p.currency) r
WHERE p.tenant_id = bizctx_tenant()
  AND (%(client_id)s::uuid IS NULL OR i.client_id = %(client_id)s::uuid)
  AND (%(invoice_id)s::uuid IS NULL OR p.invoice_id = %(invoice_id)s::uuid)
  AND (%(after_id)s::uuid IS NULL
       OR (p.paid_at, p.id) < (%(after_paid_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY p.paid_at DESC, p.id DESC
LIMIT %(limit)s
