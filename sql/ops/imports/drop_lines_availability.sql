-- Forgets the staged availability rows on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.availability WHERE line = ANY(%(lines)s::integer[])
