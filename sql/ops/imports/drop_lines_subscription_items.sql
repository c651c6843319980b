-- Forgets the staged subscription items on the given lines (--skip-invalid). Index: staging (line).
DELETE FROM bizctx_import.subscription_items WHERE line = ANY(%(lines)s::integer[])
