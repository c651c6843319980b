-- Records the payments of imported invoices that are not recorded yet, oldest first (the
-- trigger checks the balance and moves the invoice to partial or paid). Index: payments
-- (tenant_id, external_ref) unique.
INSERT INTO payments (tenant_id, invoice_id, amount, method, reference, paid_at, notes, external_ref)
SELECT %(tenant_id)s, p.invoice_id, p.amount_n, coalesce(p.method, 'other'), p.reference, p.paid_at_t, p.notes,
       p.external_ref
FROM bizctx_import.invoice_payments p
WHERE p.target_id IS NULL
ORDER BY p.invoice_id, p.paid_at_t, p.line, p.n
