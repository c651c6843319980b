-- The task KPIs of the period [from, to) and the one before, tenant-wide whatever the caller's
-- task scope (bizctx_task_kpis, migration 0145: aggregates only): throughput (tasks completed),
-- failure rate (dead / (completed + dead), in percent) and the average minutes to a claim.
-- Index: task_events_at_idx.
WITH t AS (SELECT time_zone FROM tenants WHERE id = bizctx_tenant()),
p AS (
    SELECT p.which, k.*
    FROM t, (VALUES ('current', %(from)s::date, %(to)s::date),
                    ('previous', %(prev_from)s::date, %(prev_to)s::date)) AS p(which, d_from, d_to)
    CROSS JOIN LATERAL bizctx_task_kpis(p.d_from::timestamp AT TIME ZONE t.time_zone,
                                        p.d_to::timestamp AT TIME ZONE t.time_zone) k
),
figures (kpi, which, value) AS (
    SELECT 'task_throughput', p.which, p.completed::numeric FROM p
    UNION ALL
    SELECT 'task_failure_rate', p.which, round(100.0 * p.dead / nullif(p.completed + p.dead, 0), 1) FROM p
    UNION ALL
    SELECT 'avg_minutes_to_claim', p.which, p.avg_minutes_to_claim FROM p
)
SELECT f.kpi, NULL::text AS currency,
       max(f.value) FILTER (WHERE f.which = 'current') AS value,
       max(f.value) FILTER (WHERE f.which = 'previous') AS previous
FROM figures f
GROUP BY f.kpi
ORDER BY f.kpi
