-- The audit log's partitions with their bounds, oldest first; the default partition last,
-- with no bounds (migration 0170).
SELECT partition_name, starts_at, ends_at FROM bizctx_audit_partitions()
