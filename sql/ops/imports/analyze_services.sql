-- Statistics for the staged services, so the checks and writes get sound plans. Index: none.
ANALYZE bizctx_import.services
