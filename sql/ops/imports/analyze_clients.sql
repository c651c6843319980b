-- Statistics for the staged clients, so the checks and writes get hash joins, not guesses.
-- Index: none.
ANALYZE bizctx_import.clients
