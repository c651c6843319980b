-- Empties this import's staged availability rows before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.availability
