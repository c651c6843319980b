-- Empties this import's staged subscriptions rows before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.subscriptions
