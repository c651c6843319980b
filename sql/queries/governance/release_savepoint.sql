-- Ends the innermost savepoint block (Tx.savepoint), keeping its work.
RELEASE SAVEPOINT bizctx_savepoint
