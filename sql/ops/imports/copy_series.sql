-- Stages a series file: raw text per column, one row per file row (COPY ... FROM STDIN).
-- Index: none (UNLOGGED staging table, emptied per import).
COPY bizctx_import.series (line, external_ref, client_ref, service_code, resource_ref, frequency, monthly_by,
                           first_starts_at, time_zone, until_date, occurrences, status, cancel_reason) FROM STDIN
