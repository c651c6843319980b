-- The invoice a payment is on, locked until commit (refunds, payments and voids of one
-- invoice take turns); read the payment after this, in a statement of its own, so what it
-- counts includes refunds committed while this one waited. Index: payments, invoices keys.
SELECT i.id
FROM payments p
JOIN invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id
WHERE p.tenant_id = bizctx_tenant() AND p.id = %(payment_id)s::uuid
FOR UPDATE OF i
