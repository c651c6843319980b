-- Books a scheduled appointment made by the calling agent; returns its id, or no row when
-- this idempotency key was already used. Index: appointments (tenant_id, idempotency_key) unique.
INSERT INTO appointments (tenant_id, client_id, service_id, starts_at, ends_at, location, address_id,
                          notes, price, currency, idempotency_key, created_by_agent_id)
VALUES (bizctx_tenant(), %(client_id)s::uuid, %(service_id)s::uuid, %(starts_at)s::timestamptz,
        %(ends_at)s::timestamptz, %(location)s::text, %(address_id)s::uuid, %(notes)s::text,
        %(price)s::numeric, %(currency)s::char(3), %(idempotency_key)s::text, bizctx_agent())
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id
