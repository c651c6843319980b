-- Empties this import's staged series rows before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.series
