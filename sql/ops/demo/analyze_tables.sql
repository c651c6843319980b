-- Fresh statistics for the demo's tables, so the first queries get good plans
-- (autovacuum would only analyse them a while later).
ANALYZE
