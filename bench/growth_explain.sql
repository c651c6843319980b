-- growth_bench.py --explain: the plan (EXPLAIN ANALYZE, BUFFERS) of every statement slower
-- than 20 ms, as it ran inside the calls, to the PostgreSQL server's log; for connections
-- opened from now on.
ALTER SYSTEM SET session_preload_libraries = 'auto_explain';
ALTER SYSTEM SET auto_explain.log_min_duration = '20ms';
ALTER SYSTEM SET auto_explain.log_analyze = on;
ALTER SYSTEM SET auto_explain.log_buffers = on;
ALTER SYSTEM SET auto_explain.log_nested_statements = on;
SELECT pg_reload_conf();
