-- Stages a client file: raw text per column, one row per file row (COPY ... FROM STDIN).
-- Index: none (bizctx_import.clients is an UNLOGGED staging table, emptied per import).
COPY bizctx_import.clients (line, external_ref, client_type, first_name, last_name, company_name, email,
                            phone, mobile_phone, date_of_birth, time_zone, status, lifecycle_stage, tags,
                            segments, notes, addresses, preferences, opt_outs) FROM STDIN
