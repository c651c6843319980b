-- The transaction's statements see one snapshot: an export and the delete after it cover the
-- same rows, whatever commits in between.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ
