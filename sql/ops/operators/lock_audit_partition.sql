-- Waits for inserts into one month partition to finish and keeps new ones out until the
-- transaction ends, so what is exported next is all the partition holds.
SELECT bizctx_lock_audit_partition(%(partition_name)s) AS locked
