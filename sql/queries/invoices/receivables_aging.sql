-- What is owed per currency on open and partly paid invoices, by days past due in the
-- business time zone (current = not yet due); one row with currency NULL when nothing is owed.
-- Index: invoices_receivable_idx (tenant_id, due_date) INCLUDE (currency, balance_due, client_id, id)
-- WHERE status IN ('open', 'partial'): an index-only scan, so the cost is proportional to the
-- tenant's owed invoices (migration 0181). `today` is computed once (MATERIALIZED): inlined, each
-- bucket's FILTER ran bizctx_today()'s lookup again for every invoice.
WITH today AS MATERIALIZED (
    SELECT bizctx_today() AS d, time_zone FROM tenants WHERE id = bizctx_tenant()
)
SELECT t.d AS as_of, t.time_zone, i.currency,
       coalesce(sum(i.balance_due) FILTER (WHERE i.due_date >= t.d), 0) AS current,
       coalesce(sum(i.balance_due) FILTER (WHERE t.d - i.due_date BETWEEN 1 AND 30), 0) AS days_1_30,
       coalesce(sum(i.balance_due) FILTER (WHERE t.d - i.due_date BETWEEN 31 AND 60), 0) AS days_31_60,
       coalesce(sum(i.balance_due) FILTER (WHERE t.d - i.due_date BETWEEN 61 AND 90), 0) AS days_61_90,
       coalesce(sum(i.balance_due) FILTER (WHERE t.d - i.due_date > 90), 0) AS days_over_90,
       coalesce(sum(i.balance_due), 0) AS total,
       count(i.id) AS invoices
FROM today t
LEFT JOIN invoices i
       ON i.tenant_id = bizctx_tenant() AND i.status IN ('open', 'partial') AND i.balance_due > 0
      AND (%(client_id)s::uuid IS NULL OR i.client_id = %(client_id)s::uuid)
GROUP BY t.d, t.time_zone, i.currency
ORDER BY i.currency
