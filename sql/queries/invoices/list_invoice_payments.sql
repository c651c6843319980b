-- An invoice's payments, oldest first, amounts at the currency's minor unit.
-- Index: payments_invoice_idx (tenant_id, invoice_id, paid_at).
SELECT id, invoice_id, round(amount, currency_minor_unit(currency)) AS amount, currency, method,
       reference, paid_at, notes, created_by_agent_id, created_at
FROM payments
WHERE tenant_id = bizctx_tenant() AND invoice_id = %(invoice_id)s::uuid
ORDER BY paid_at, created_at, id
