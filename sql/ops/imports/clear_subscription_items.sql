-- Empties this import's staged subscription items before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.subscription_items
