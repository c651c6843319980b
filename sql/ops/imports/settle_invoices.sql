-- For each staged invoice: whether its items differ from the invoice's current ones, the
-- total they come to (by the schema's money rule; NULL while an item or the currency is
-- invalid), what its payments sum to, and the status it ends in (the file's, else from the
-- payments). Index: invoice_items (tenant_id, invoice_id, position), staging (line).
WITH file_items AS (
    SELECT i.line,
           array_agg(ROW(i.description, i.quantity_n, i.unit_price_n, i.discount_n, i.tax_n, i.service_id,
                         i.appointment_id) ORDER BY i.position) AS items,
           bool_and(i.quantity_n > 0 AND i.unit_price_n IS NOT NULL AND i.discount_n <= 100 AND i.tax_n <= 100)
               AS all_valid
    FROM bizctx_import.invoice_items i
    GROUP BY i.line
),
file_payments AS (
    SELECT p.line, sum(p.amount_n) AS paid, bool_and(p.amount_n IS NOT NULL) AS all_valid
    FROM bizctx_import.invoice_payments p
    GROUP BY p.line
),
worked AS (
    SELECT s.line, cur.status AS current_status,
           CASE WHEN s.items IS NULL THEN false
                ELSE (SELECT array_agg(ROW(ii.description, ii.quantity, ii.unit_price, ii.discount_pct, ii.tax_pct,
                                           ii.service_id, ii.appointment_id) ORDER BY ii.position)
                      FROM invoice_items ii
                      WHERE ii.tenant_id = %(tenant_id)s AND ii.invoice_id = s.target_id)
                     IS DISTINCT FROM fi.items END AS items_changed,
           CASE WHEN s.items IS NULL THEN coalesce(cur.total, 0)
                WHEN upper(btrim(s.currency)) !~ '^[A-Z]{3}$' OR NOT coalesce(fi.all_valid, true) THEN NULL
                ELSE coalesce((SELECT sum(n.net + bizctx_round_money(n.net * i.tax_n / 100, upper(btrim(s.currency))))
                               FROM bizctx_import.invoice_items i
                               CROSS JOIN LATERAL (SELECT bizctx_round_money(
                                   i.quantity_n * i.unit_price_n * (1 - i.discount_n / 100),
                                   upper(btrim(s.currency))) AS net) n
                               WHERE i.line = s.line), 0) END AS items_total,
           CASE WHEN s.payments IS NULL THEN coalesce(cur.amount_paid, 0)
                WHEN NOT coalesce(fp.all_valid, true) THEN NULL
                ELSE coalesce(fp.paid, 0) END AS paid_total,
           lower(btrim(s.status)) AS given_status
    FROM bizctx_import.invoices s
    LEFT JOIN invoices cur ON cur.tenant_id = %(tenant_id)s AND cur.id = s.target_id
    LEFT JOIN file_items fi ON fi.line = s.line
    LEFT JOIN file_payments fp ON fp.line = s.line
)
UPDATE bizctx_import.invoices s
SET items_changed = w.items_changed, items_total = w.items_total, paid_total = w.paid_total,
    final_status = CASE
        WHEN w.given_status IS NOT NULL THEN w.given_status
        WHEN w.current_status IN ('draft', 'void') THEN w.current_status
        WHEN w.paid_total IS NULL OR w.items_total IS NULL THEN NULL
        WHEN w.paid_total = 0 THEN 'open'
        WHEN w.paid_total < w.items_total THEN 'partial'
        ELSE 'paid' END
FROM worked w
WHERE w.line = s.line
