-- Statistics for the staged appointments, so the checks and writes get sound plans. Index: none.
ANALYZE bizctx_import.appointments
