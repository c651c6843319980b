-- Empties this import's staged services rows before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.services
