-- The payment a record_payment with this idempotency_key recorded, if any.
-- Index: payments (tenant_id, idempotency_key) unique.
SELECT id, invoice_id, round(amount, currency_minor_unit(currency)) AS amount, currency, method,
       reference, paid_at, notes, created_by_agent_id, created_at
FROM payments
WHERE tenant_id = bizctx_tenant() AND idempotency_key = %(idempotency_key)s::text
