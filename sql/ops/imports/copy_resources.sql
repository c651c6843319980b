-- Stages a resource file: raw text per column, one row per file row (COPY ... FROM STDIN).
-- Index: none (UNLOGGED staging table, emptied per import).
COPY bizctx_import.resources (line, external_ref, kind, name, email, time_zone, capabilities, active) FROM STDIN
