-- Drops one month partition of the audit log; how many rows it held.
SELECT bizctx_drop_audit_partition(%(partition_name)s) AS dropped
