-- Statistics for the staged availability, so the checks and writes get sound plans. Index: none.
ANALYZE bizctx_import.availability
