-- A statement that may find nothing can say so itself: bizctx_found(false) raises BZ404.
--
-- Why: a read tool answered by one statement (get_client) sends its audit row and COMMIT with
-- that statement, so the call costs one round trip instead of two (Tx.commit_with_next_read in
-- server/database.py). The row says `ok` before anyone has seen the statement's rows, so a
-- statement that finds nothing must not let it commit: raising aborts the transaction, and
-- PostgreSQL skips the audit row and the COMMIT sent behind it. The database layer turns BZ404
-- into NoRow, the handler into its not_found error, and the guard writes that call's audit row
-- after the rollback, as for any failed call.
--
-- Used as the statement's whole WHERE clause over a LEFT JOIN from one row, so the one row it
-- answers (or the NULLs it finds) pass through it exactly once:
--   SELECT c.* FROM (VALUES (true)) AS asked (x) LEFT JOIN clients c ON ... WHERE bizctx_found(c.id IS NOT NULL)
-- VOLATILE keeps the planner from moving or folding the call.
CREATE FUNCTION bizctx_found(p_found boolean) RETURNS boolean
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_found IS NOT TRUE THEN
        RAISE EXCEPTION 'no such row' USING ERRCODE = 'BZ404';
    END IF;
    RETURN true;
END $$;
