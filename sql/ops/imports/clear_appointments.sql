-- Empties this import's staged appointments rows before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.appointments
