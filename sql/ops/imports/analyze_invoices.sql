-- Statistics for the staged invoices, so the checks and writes get sound plans. Index: none.
ANALYZE bizctx_import.invoices
