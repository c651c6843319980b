-- Empties this import's staged resources rows before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.resources
