-- Forgets the staged invoices rows on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.invoices WHERE line = ANY(%(lines)s::integer[])
