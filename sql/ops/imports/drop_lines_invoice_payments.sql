-- Forgets the staged invoice payments on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.invoice_payments WHERE line = ANY(%(lines)s::integer[])
