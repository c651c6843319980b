-- Statistics for the staged series, so the checks and writes get sound plans. Index: none.
ANALYZE bizctx_import.series
