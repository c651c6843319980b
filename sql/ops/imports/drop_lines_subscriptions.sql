-- Forgets the staged subscriptions rows on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.subscriptions WHERE line = ANY(%(lines)s::integer[])
