-- Stages a service file: raw text per column, one row per file row (COPY ... FROM STDIN).
-- Index: none (UNLOGGED staging table, emptied per import).
COPY bizctx_import.services (line, external_ref, code, name, description, duration_minutes, price, currency,
                             tax_pct, required_capabilities, active) FROM STDIN
