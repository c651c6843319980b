-- Claims an idempotency key for a change to an appointment; no row when the key was used
-- (waits for a concurrent holder of the key to finish). Index: appointment_changes (tenant_id, idempotency_key).
INSERT INTO appointment_changes (tenant_id, appointment_id, action, idempotency_key, agent_id)
VALUES (bizctx_tenant(), %(appointment_id)s::uuid, %(action)s::text, %(idempotency_key)s::text, bizctx_agent())
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id
