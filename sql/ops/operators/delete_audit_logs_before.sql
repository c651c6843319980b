-- Deletes the audit rows older than before that month partitions still hold (the month the
-- cutoff falls in, and the default partition); the whole months older are dropped instead.
DELETE FROM audit_logs WHERE occurred_at < %(before)s::timestamptz
