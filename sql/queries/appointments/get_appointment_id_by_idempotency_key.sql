-- The appointment an earlier book_appointment with this idempotency key created, if any.
-- Index: appointments (tenant_id, idempotency_key) unique.
SELECT a.id
FROM appointments a
WHERE a.tenant_id = bizctx_tenant() AND a.idempotency_key = %(idempotency_key)s::text
