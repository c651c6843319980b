-- Each staged series' line and the id of the record it was written to (import_rows with_ids).
-- Index: staging (line).
SELECT line, id FROM bizctx_import.series ORDER BY line
