-- An invoice's lines in order, amounts at the currency's minor unit, inputs without trailing zeros.
-- Index: invoice_items (tenant_id, invoice_id, position) unique.
SELECT it.id, it.position, it.description,
       trim_scale(it.quantity) AS quantity, trim_scale(it.unit_price) AS unit_price,
       trim_scale(it.discount_pct) AS discount_pct, trim_scale(it.tax_pct) AS tax_pct,
       round(it.net_amount, currency_minor_unit(i.currency)) AS net_amount,
       round(it.tax_amount, currency_minor_unit(i.currency)) AS tax_amount,
       round(it.total_amount, currency_minor_unit(i.currency)) AS total_amount,
       it.service_id, it.appointment_id
FROM invoice_items it
JOIN invoices i ON i.tenant_id = it.tenant_id AND i.id = it.invoice_id
WHERE it.tenant_id = bizctx_tenant() AND it.invoice_id = %(invoice_id)s::uuid
ORDER BY it.position
