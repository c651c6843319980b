-- The invoice KPIs of the period [from, to) and the one before, per currency, in the business
-- time zone: revenue invoiced (totals of invoices issued, not drafts or voids), revenue
-- collected (payments received less refunds given back), receivables and the overdue amount
-- (balances due now: no previous value), and the average days from issue to the last payment
-- of the invoices paid off in the period. Index: invoices_issue_date_idx, payments_paid_at_idx,
-- refunds (tenant_id, ...), invoices_receivable_idx.
WITH t AS (SELECT time_zone, bizctx_today() AS today FROM tenants WHERE id = bizctx_tenant()),
p AS (
    SELECT p.which, p.d_from, p.d_to, p.d_from::timestamp AT TIME ZONE t.time_zone AS ts_from,
           p.d_to::timestamp AT TIME ZONE t.time_zone AS ts_to
    FROM t, (VALUES ('current', %(from)s::date, %(to)s::date),
                    ('previous', %(prev_from)s::date, %(prev_to)s::date)) AS p(which, d_from, d_to)
),
figures (kpi, which, currency, value) AS (
    SELECT 'revenue_invoiced', p.which, i.currency, sum(i.total)
    FROM p JOIN invoices i ON i.tenant_id = bizctx_tenant() AND i.status IN ('open', 'partial', 'paid')
                          AND i.issue_date >= p.d_from AND i.issue_date < p.d_to
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'revenue_collected', p.which, m.currency, sum(m.amount)
    FROM p CROSS JOIN LATERAL (
        SELECT pm.currency, pm.amount FROM payments pm
        WHERE pm.tenant_id = bizctx_tenant() AND pm.paid_at >= p.ts_from AND pm.paid_at < p.ts_to
        UNION ALL
        SELECT r.currency, -r.amount FROM refunds r
        WHERE r.tenant_id = bizctx_tenant() AND r.refunded_at >= p.ts_from AND r.refunded_at < p.ts_to) m
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'receivables', 'current', i.currency, sum(i.balance_due)
    FROM invoices i WHERE i.tenant_id = bizctx_tenant() AND i.status IN ('open', 'partial')
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'overdue_amount', 'current', i.currency, sum(i.balance_due)
    FROM invoices i, t WHERE i.tenant_id = bizctx_tenant() AND i.status IN ('open', 'partial') AND i.due_date < t.today
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'avg_days_to_pay', p.which, NULL, round(avg(paid.last_day - paid.issue_date), 1)
    FROM p CROSS JOIN LATERAL (
        SELECT i.issue_date, max((pm.paid_at AT TIME ZONE t.time_zone)::date) AS last_day
        FROM t, invoices i JOIN payments pm ON pm.tenant_id = i.tenant_id AND pm.invoice_id = i.id
        WHERE i.tenant_id = bizctx_tenant() AND i.status = 'paid'
        GROUP BY i.id, i.issue_date) paid
    WHERE paid.last_day >= p.d_from AND paid.last_day < p.d_to
    GROUP BY 1, 2, 3
)
SELECT f.kpi, f.currency,
       max(f.value) FILTER (WHERE f.which = 'current') AS value,
       max(f.value) FILTER (WHERE f.which = 'previous') AS previous
FROM figures f
GROUP BY f.kpi, f.currency
ORDER BY f.kpi, f.currency
