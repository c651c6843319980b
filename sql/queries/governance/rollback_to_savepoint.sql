-- Undoes the innermost savepoint block's work after its statement failed (Tx.savepoint).
ROLLBACK TO SAVEPOINT bizctx_savepoint
