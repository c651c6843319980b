-- An invoice's lines in order (numbers as stored: server/money.py prints them).
-- Index: invoice_items (tenant_id, invoice_id, position) unique.
SELECT it.id, it.position, it.description,
       it.quantity, it.unit_price, it.discount_pct, it.tax_pct,
       it.net_amount, it.tax_amount, it.total_amount, it.service_id, it.appointment_id
FROM invoice_items it
JOIN invoices i ON i.tenant_id = it.tenant_id AND i.id = it.invoice_id
WHERE it.tenant_id = bizctx_tenant() AND it.invoice_id = %(invoice_id)s::uuid
ORDER BY it.position
