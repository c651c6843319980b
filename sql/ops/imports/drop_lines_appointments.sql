-- Forgets the staged appointments rows on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.appointments WHERE line = ANY(%(lines)s::integer[])
