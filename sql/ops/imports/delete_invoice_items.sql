-- Removes the current items of imported invoices whose items in the file differ (the
-- replacement follows; totals follow by trigger). Index: invoice_items (tenant_id, invoice_id, position).
DELETE FROM invoice_items ii
USING bizctx_import.invoices s
WHERE ii.tenant_id = %(tenant_id)s AND ii.invoice_id = s.id AND s.items_changed
