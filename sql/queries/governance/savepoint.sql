-- Marks a point a failed statement rolls back to (Tx.savepoint); one name, nested ones shadow it.
SAVEPOINT bizctx_savepoint
