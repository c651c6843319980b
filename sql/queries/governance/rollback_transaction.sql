-- Rolls back a failed call's transaction.
ROLLBACK
