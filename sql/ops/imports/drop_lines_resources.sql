-- Forgets the staged resources rows on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.resources WHERE line = ANY(%(lines)s::integer[])
