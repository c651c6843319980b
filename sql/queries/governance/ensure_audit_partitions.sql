-- Makes the audit log's partitions for this month and the next, if missing (migration 0170);
-- how many it made. Run by every process that opens the database, and hourly by HTTP serve.
SELECT bizctx_ensure_audit_partitions() AS made
