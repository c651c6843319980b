-- Forgets the staged series rows on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.series WHERE line = ANY(%(lines)s::integer[])
