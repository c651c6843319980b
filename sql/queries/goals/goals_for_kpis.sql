-- The active goals tied to KPIs, for get_kpis to say which goal each KPI serves.
-- Index: goals (tenant_id, name) unique, a scan of the business's few goals.
SELECT g.id, g.name, g.kpi, g.target_value, g.target_unit
FROM goals g
WHERE g.tenant_id = bizctx_tenant() AND g.kpi IS NOT NULL AND g.status = 'active'
ORDER BY g.name
