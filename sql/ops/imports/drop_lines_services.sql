-- Forgets the staged services rows on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.services WHERE line = ANY(%(lines)s::integer[])
