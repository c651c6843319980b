-- Stages an appointment file: raw text per column, one row per file row (COPY ... FROM STDIN).
-- Index: none (UNLOGGED staging table, emptied per import).
COPY bizctx_import.appointments (line, external_ref, client_ref, service_code, resource_refs, starts_at, ends_at,
                                 status, location, notes, price, currency, cancellation_reason, series_ref) FROM STDIN
