-- Empties this import's staged invoice payments before it commits. Index: none (all own rows).
DELETE FROM bizctx_import.invoice_payments
