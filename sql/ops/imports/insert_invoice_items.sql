-- Writes the items of imported invoices whose items changed (amounts and invoice totals are
-- computed by trigger). Index: invoice_items (tenant_id, invoice_id, position) unique.
INSERT INTO invoice_items (tenant_id, invoice_id, position, description, quantity, unit_price, discount_pct, tax_pct,
                           service_id, appointment_id, net_amount, tax_amount, total_amount)
SELECT %(tenant_id)s, i.invoice_id, i.position, i.description, i.quantity_n, i.unit_price_n, i.discount_n, i.tax_n,
       i.service_id, i.appointment_id, 0, 0, 0
FROM bizctx_import.invoice_items i
JOIN bizctx_import.invoices s ON s.line = i.line
WHERE s.items_changed
ORDER BY i.line, i.position
