-- Empties this import's staged invoices rows before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.invoices
