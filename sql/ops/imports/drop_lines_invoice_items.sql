-- Forgets the staged invoice items on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.invoice_items WHERE line = ANY(%(lines)s::integer[])
