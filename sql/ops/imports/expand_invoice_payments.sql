-- One staged row per element of each staged invoice's payments array, parsed, and matched to
-- the payment already recorded (by external_ref; else same invoice, amount, time and method).
-- Index: payments (tenant_id, external_ref) unique, payments_invoice_idx.
INSERT INTO bizctx_import.invoice_payments (line, invoice_id, n, raw, external_ref, amount, method, paid_at,
                                            reference, notes, amount_n, paid_at_t, target_id)
SELECT y.*,
       coalesce((SELECT pm.id FROM payments pm
                 WHERE pm.tenant_id = %(tenant_id)s AND pm.external_ref = y.external_ref),
                (SELECT pm.id FROM payments pm
                 WHERE pm.tenant_id = %(tenant_id)s AND y.external_ref IS NULL AND pm.external_ref IS NULL
                   AND pm.invoice_id = y.invoice_id AND pm.amount = y.amount_n AND pm.paid_at = y.paid_at_t
                   AND pm.method = coalesce(y.method, 'other')
                 ORDER BY pm.id LIMIT 1))
FROM (
    SELECT x.*,
           CASE WHEN bizctx_import.is_decimal(x.amount, 14, 4) THEN x.amount::numeric END AS amount_n,
           CASE WHEN bizctx_import.is_timestamp(x.paid_at) THEN x.paid_at::timestamptz END AS paid_at_t
    FROM (
        SELECT s.line, s.id AS invoice_id, e.n::integer AS n, e.v AS raw,
               nullif(btrim(e.v ->> 'external_ref'), '') AS external_ref,
               nullif(btrim(e.v ->> 'amount'), '') AS amount,
               lower(nullif(btrim(e.v ->> 'method'), '')) AS method,
               nullif(btrim(e.v ->> 'paid_at'), '') AS paid_at,
               nullif(e.v ->> 'reference', '') AS reference,
               nullif(e.v ->> 'notes', '') AS notes
        FROM bizctx_import.invoices s
        CROSS JOIN LATERAL (SELECT bizctx_import.json_value(s.payments) AS j) p
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.j) = 'array' THEN p.j END)
            WITH ORDINALITY AS e(v, n)
    ) AS x
) AS y
