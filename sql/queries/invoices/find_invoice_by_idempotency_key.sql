-- The id of the invoice a create_invoice with this idempotency_key made, if any.
-- Index: invoices (tenant_id, idempotency_key) unique.
SELECT id
FROM invoices
WHERE tenant_id = bizctx_tenant() AND idempotency_key = %(idempotency_key)s::text
