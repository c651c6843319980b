-- The change (appointment and action) an idempotency key was first used for.
-- Index: appointment_changes unique (tenant_id, idempotency_key).
SELECT c.appointment_id, c.action
FROM appointment_changes c
WHERE c.tenant_id = bizctx_tenant() AND c.idempotency_key = %(idempotency_key)s::text
