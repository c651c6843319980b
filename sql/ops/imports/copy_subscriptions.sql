-- Stages a subscription file: raw text per column (items as JSON text), one row per file row
-- (COPY ... FROM STDIN). Index: none (UNLOGGED staging table, emptied per import).
COPY bizctx_import.subscriptions (line, external_ref, client_ref, plan_name, status, billing_cycle, billing_day,
                                  currency, starts_on, ends_on, auto_renew, next_billing_on, paused_until,
                                  cancel_reason, items) FROM STDIN
