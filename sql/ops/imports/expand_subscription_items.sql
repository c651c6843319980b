-- One staged row per element of each staged subscription's items array, with its service
-- resolved and its numbers parsed (NULL when not a number; validation says why).
-- Index: services (tenant_id, code).
INSERT INTO bizctx_import.subscription_items (line, subscription_id, position, raw, description, quantity, unit_price,
                                              discount_pct, tax_pct, service_code, service_id, quantity_n,
                                              unit_price_n, discount_n, tax_n)
SELECT x.*,
       CASE WHEN bizctx_import.is_decimal(coalesce(x.quantity, '1'), 10, 4) THEN coalesce(x.quantity, '1')::numeric END,
       CASE WHEN bizctx_import.is_decimal(x.unit_price, 14, 4) THEN x.unit_price::numeric END,
       CASE WHEN bizctx_import.is_decimal(coalesce(x.discount_pct, '0'), 3, 4)
            THEN coalesce(x.discount_pct, '0')::numeric END,
       CASE WHEN bizctx_import.is_decimal(coalesce(x.tax_pct, '0'), 3, 4) THEN coalesce(x.tax_pct, '0')::numeric END
FROM (
    SELECT s.line, s.id, e.n::integer, e.v,
           nullif(btrim(e.v ->> 'description'), ''), nullif(btrim(e.v ->> 'quantity'), '') AS quantity,
           nullif(btrim(e.v ->> 'unit_price'), '') AS unit_price,
           nullif(btrim(e.v ->> 'discount_pct'), '') AS discount_pct, nullif(btrim(e.v ->> 'tax_pct'), '') AS tax_pct,
           nullif(btrim(e.v ->> 'service_code'), ''),
           (SELECT v.id FROM services v
            WHERE v.tenant_id = %(tenant_id)s AND v.code = btrim(e.v ->> 'service_code'))
    FROM bizctx_import.subscriptions s
    CROSS JOIN LATERAL (SELECT bizctx_import.json_value(s.items) AS j) p
    CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.j) = 'array' THEN p.j END)
        WITH ORDINALITY AS e(v, n)
) AS x
