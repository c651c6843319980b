-- Stages an availability file (weekly hours and time off): raw text per column, one row per
-- file row (COPY ... FROM STDIN). Index: none (UNLOGGED staging table, emptied per import).
COPY bizctx_import.availability (line, external_ref, resource_ref, weekday, start_time, end_time, starts_at,
                                 ends_at, reason) FROM STDIN
