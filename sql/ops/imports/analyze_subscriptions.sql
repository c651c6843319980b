-- Statistics for the staged subscriptions, so the checks and writes get sound plans. Index: none.
ANALYZE bizctx_import.subscriptions
