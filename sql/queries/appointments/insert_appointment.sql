-- Books a scheduled appointment made by the calling agent (an occurrence of a series, with its
-- series_id) under the id the caller chose (so statements after it need not wait for it); its id.
INSERT INTO appointments (tenant_id, id, client_id, service_id, starts_at, ends_at, location, address_id,
                          notes, price, currency, created_by_agent_id, series_id)
VALUES (bizctx_tenant(), %(id)s::uuid, %(client_id)s::uuid, %(service_id)s::uuid, %(starts_at)s::timestamptz,
        %(ends_at)s::timestamptz, %(location)s::text, %(address_id)s::uuid, %(notes)s::text,
        %(price)s::numeric, %(currency)s::char(3), bizctx_agent(), %(series_id)s::uuid)
RETURNING id
