-- Forgets the staged clients on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.clients WHERE line = ANY(%(lines)s::integer[])
