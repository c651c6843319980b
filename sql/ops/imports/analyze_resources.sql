-- Statistics for the staged resources, so the checks and writes get sound plans. Index: none.
ANALYZE bizctx_import.resources
