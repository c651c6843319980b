-- Empties this import's staged clients before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.clients
