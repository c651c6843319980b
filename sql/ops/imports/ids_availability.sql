-- Each staged availability row's line and the id of the record it was written to (import_rows
-- with_ids: code that imports rows and then refers to them). Index: staging (line).
SELECT line, id FROM bizctx_import.availability ORDER BY line
