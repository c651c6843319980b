-- Stages an invoice file: raw text per column (items and payments as JSON text), one row per
-- file row (COPY ... FROM STDIN). Index: none (UNLOGGED staging table, emptied per import).
COPY bizctx_import.invoices (line, external_ref, invoice_number, client_ref, status, issue_date, due_date, currency,
                             notes, void_reason, total, items, payments) FROM STDIN
